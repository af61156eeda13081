//go:build !js

package client

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
)

// blackHole accepts TCP connections and never answers, reading and
// dropping whatever arrives (an allowlist censor in front of a real
// address, a dead relay behind a live port). closed gets one value per
// connection the dialer closed.
type blackHole struct {
	ln       net.Listener
	accepted chan struct{}
	closed   chan time.Duration // how long the conn stayed open
	mu       sync.Mutex
	conns    []net.Conn
}

func startBlackHole(t *testing.T) *blackHole {
	ln := testnet.Listen(t)
	b := &blackHole{ln: ln, accepted: make(chan struct{}, 16), closed: make(chan time.Duration, 16)}
	testnet.Serve(t, ln, func(c net.Conn) {
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
		b.accepted <- struct{}{}
		start := time.Now()
		io.Copy(io.Discard, c)
		b.closed <- time.Since(start)
	})
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

// raceAgainst starts a server whose book holds two relays, "relay-a" at
// bad (tried first: entries sort by ID) and "relay-b" at the server, and a
// client that knows only the book; it returns the client once online and
// how long that took from Start.
func raceAgainst(t *testing.T, bad string) (*Client, time.Duration) {
	srvLn, _ := net.Listen("tcp", "127.0.0.1:0")
	sl := bookServer(t, srvLn, []reach.Entry{directEntry("relay-a", bad), directEntry("relay-b", srvLn.Addr().String())}, "relay-a", "relay-b")
	c, err := Init(InitOptions{Options: userOptions(t, filepath.Join(t.TempDir(), "alice"), "alice"), Server: sl, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	c.Start(context.Background())
	t.Cleanup(func() { c.Close() })
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := c.WaitOnline(wctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	if p := c.Path(); !p.Connected || p.ID != "relay-b" {
		t.Fatalf("connected via %+v, want relay-b", p)
	}
	return c, took
}

// TestReachRaceThroughHandshake: a path whose TCP connects but whose
// bytes vanish races a good path and is tried first; the good path must
// win the race within about a second (the race runs through the secure
// channel and the wire hello, not just the TCP connect), and the black
// hole's half-open connection must be closed. The black hole lost the race
// without failing, so it is not backed off.
func TestReachRaceThroughHandshake(t *testing.T) {
	hole := startBlackHole(t)
	c, took := raceAgainst(t, hole.ln.Addr().String())
	t.Logf("time to connect with a black hole tried first: %v", took.Round(time.Millisecond))
	select {
	case <-hole.accepted:
	default:
		t.Fatal("the black hole was never tried; the test proves nothing")
	}
	if took > 2*time.Second {
		t.Errorf("time to connect %v; want about the stagger (250ms), well under the handshake timeout", took)
	}
	select {
	case open := <-hole.closed:
		t.Logf("the black hole's connection was closed by the client after %v", open.Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Error("the black hole's connection was left open")
	}
	if _, off := c.reach.racer.Memory().BackedOff(reach.LocalNetwork(), "relay-a", time.Now()); off {
		t.Error("the black hole is backed off though it only lost the race")
	}
}

// TestReachRaceWrongServer: a path to a server with another key fails its
// handshake in the race; the good path wins and the bad one is backed off.
func TestReachRaceWrongServer(t *testing.T) {
	otherKey, _ := securechan.GenerateServerKey(nil)
	other, err := securechan.NewServer(securechan.ServerConfig{Key: otherKey})
	if err != nil {
		t.Fatal(err)
	}
	wrong := testnet.ServeTCP(t, func(nc net.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if sc, err := other.Accept(ctx, nc); err == nil {
			sc.Close()
		}
		nc.Close()
	})
	c, took := raceAgainst(t, wrong)
	t.Logf("time to connect with a wrong server tried first: %v", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("time to connect %v; want well under a second", took)
	}
	if _, off := c.reach.racer.Memory().BackedOff(reach.LocalNetwork(), "relay-a", time.Now()); !off {
		t.Error("the wrong server's path is not backed off")
	}
}
