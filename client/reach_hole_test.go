//go:build !js

package client

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/reach"
)

// holeProxy forwards connections to a target. hole makes the connections
// open at that moment drop everything the client sends from then on, with
// no reset and no close, while the server's bytes still pass: a censor
// that lets a flow's opening through and black-holes the rest (the lab's
// record-shape rule does this to a tunnel it catches). Later connections
// pass untouched.
type holeProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	live  []*atomic.Bool // per connection: dropping the client's bytes
	holed int            // connections black-holed
}

func startHoleProxy(t *testing.T, target string) *holeProxy {
	p := &holeProxy{ln: testnet.Listen(t)}
	testnet.Forward(t, p.ln, target, func(in, out net.Conn) {
		drop := new(atomic.Bool)
		p.mu.Lock()
		p.live = append(p.live, drop)
		p.mu.Unlock()
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := in.Read(buf)
				if n > 0 && !drop.Load() {
					out.Write(buf[:n])
				}
				if err != nil {
					if !drop.Load() {
						out.Close()
					}
					return
				}
			}
		}()
		passOn(in, out)
	})
	t.Cleanup(func() { p.ln.Close() })
	return p
}

// passOn copies what src sends to dst until src ends, then closes dst.
func passOn(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			dst.Write(buf[:n])
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// hole black-holes what the client sends on every connection open now.
func (p *holeProxy) hole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.live {
		if d.CompareAndSwap(false, true) {
			p.holed++
		}
	}
	p.live = nil
}

// TestAdversaryBlackHoleDuringSetup: the path's connection carries the
// secure channel and the wire hello (so it wins the race) and then drops
// everything the client sends, silently, while the client registers its
// device and subscribes. The client must find the path silent and dial a
// fresh connection within seconds, not wait in its setup for an answer
// that never comes (in the lab, analyst-2026-classifier: a user held for
// the whole 60 s run on a flow the record-shape rule had black-holed).
func TestAdversaryBlackHoleDuringSetup(t *testing.T) {
	srvLn, _ := net.Listen("tcp", "127.0.0.1:0")
	p := startHoleProxy(t, srvLn.Addr().String())
	sl := bookServer(t, srvLn, []reach.Entry{directEntry("relay-h", p.ln.Addr().String())}, "relay-h")
	alice, err := Init(InitOptions{Options: userOptions(t, filepath.Join(t.TempDir(), "alice"), "alice"), Server: sl, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var armed atomic.Bool
	armed.Store(true)
	alice.testHookSetup = func() {
		if armed.CompareAndSwap(true, false) {
			p.hole()
		}
	}
	start := time.Now()
	alice.Start(context.Background())
	t.Cleanup(func() { alice.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = alice.WaitOnline(ctx)
	p.mu.Lock()
	holed := p.holed
	p.mu.Unlock()
	if holed != 1 {
		t.Fatalf("%d connections black-holed, want 1 (the test did not attack)", holed)
	}
	if err != nil {
		t.Fatalf("alice still not online %v after her path was black-holed during setup: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("alice came back after %v, want within the silence backstop and a race", took)
	}
	t.Logf("online again %v after the black hole", time.Since(start).Round(time.Millisecond))
}

// slowProxy forwards connections to a target, passing what the client
// sends at rate bytes a second (the server's bytes pass at once): a
// throttled uplink. It counts the connections it accepted.
type slowProxy struct {
	ln       net.Listener
	rate     int
	accepted atomic.Int32
}

func startSlowProxy(t *testing.T, target string, rate int) *slowProxy {
	p := &slowProxy{ln: testnet.Listen(t), rate: rate}
	testnet.Forward(t, p.ln, target, func(in, out net.Conn) {
		p.accepted.Add(1)
		go func() {
			buf := make([]byte, 1<<10)
			for {
				n, err := in.Read(buf)
				if n > 0 {
					time.Sleep(time.Duration(n) * time.Second / time.Duration(p.rate))
					out.Write(buf[:n])
				}
				if err != nil {
					out.Close()
					return
				}
			}
		}()
		passOn(in, out)
	})
	t.Cleanup(func() { p.ln.Close() })
	return p
}

// TestSlowSetupIsNotSilence: a first setup publishes a full batch of
// KeyPackages (well over 100 KB) over an uplink of 24 KB/s, seconds past
// the path's silence limit with no answer. The client must wait for it
// on the one connection, not take the throttled path for a black hole
// and reconnect (which would publish the batch again, and again).
func TestSlowSetupIsNotSilence(t *testing.T) {
	srvLn, _ := net.Listen("tcp", "127.0.0.1:0")
	p := startSlowProxy(t, srvLn.Addr().String(), 24<<10)
	sl := bookServer(t, srvLn, []reach.Entry{directEntry("relay-s", p.ln.Addr().String())}, "relay-s")
	opts := userOptions(t, filepath.Join(t.TempDir(), "alice"), "alice")
	opts.KeyPackageBatch = 50
	alice, err := Init(InitOptions{Options: opts, Server: sl, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	before := p.accepted.Load()
	start := time.Now()
	alice.Start(context.Background())
	t.Cleanup(func() { alice.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := alice.WaitOnline(ctx); err != nil {
		t.Fatalf("alice not online over a slow uplink after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	took := time.Since(start)
	if took < maxSilence+time.Second {
		t.Fatalf("the setup took %v, not past the longest silence limit (%v): the test proves nothing", took, maxSilence)
	}
	if n := p.accepted.Load() - before; n != 1 {
		t.Fatalf("%d connections for one setup over a slow uplink, want 1: a slow answer was taken for silence", n)
	}
	t.Logf("online after %v on one connection", took.Round(time.Millisecond))
}
