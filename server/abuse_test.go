package server_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
	"github.com/samizdat-project/samizdat/wire"
)

// fakeAddrListener gives each accepted connection the remote address
// next returns for its real one, so a test on loopback can play clients
// from anywhere.
type fakeAddrListener struct {
	net.Listener
	next func(real net.Addr) net.Addr
}

type fakeAddrConn struct {
	net.Conn
	remote net.Addr
}

func (c fakeAddrConn) RemoteAddr() net.Addr { return c.remote }

func (l fakeAddrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return fakeAddrConn{c, l.next(c.RemoteAddr())}, nil
}

// addrPlan hands out remote addresses: the attacker's, all in one IPv6
// /64 (a new address every time), until honest is set; then others, each
// from a /64 of its own.
type addrPlan struct {
	n      atomic.Int64
	honest atomic.Bool
}

func (p *addrPlan) next(net.Addr) net.Addr {
	i := p.n.Add(1)
	if p.honest.Load() {
		return &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("2001:db8:%x::1", i)), Port: 40000}
	}
	return &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("2001:db8:0:1:%x::%x", i, i)), Port: 40000}
}

// startServerAt is startServer behind a fakeAddrListener.
func startServerAt(t testing.TB, next func(net.Addr) net.Addr, configure func(*server.Config)) *testServer {
	t.Helper()
	return startServerOn(t, "tcp", "127.0.0.1:0", next, configure)
}

// startServerOn is startServerAt on a given listening address.
func startServerOn(t testing.TB, network, addr string, next func(net.Addr) net.Addr, configure func(*server.Config)) *testServer {
	t.Helper()
	st := sqlitetest.Open(t)
	ln, err := net.Listen(network, addr)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return serveOn(t, st, st, fakeAddrListener{ln, next}, configure)
}

// TestAdversaryIPv6SlashSixtyFourBypass: a client that holds an IPv6 /64
// (as most subscribers do) must not get a fresh connection bucket for each
// of its 2^64 addresses.
func TestAdversaryIPv6SlashSixtyFourBypass(t *testing.T) {
	plan := &addrPlan{}
	ts := startServerAt(t, plan.next, func(c *server.Config) {
		c.RateLimits = server.RateLimits{ConnectionsPerIP: server.Rate{PerSecond: 0.001, Burst: 4}}
	})
	got := 0
	for range 12 {
		if c, err := tryDial(ts, newIdentity(newAccount())); err == nil {
			got++
			c.sc.Close()
		}
	}
	if got > 4 {
		t.Fatalf("%d handshakes from one /64 got through a limit of 4", got)
	}
	plan.honest.Store(true)
	if c, err := tryDial(ts, newIdentity(newAccount())); err != nil {
		t.Fatalf("a client from another /64 was refused: %v", err)
	} else {
		c.sc.Close()
	}
}

// TestAdversaryLinkHubFill: unregistered devices from one /64 open linking
// mailboxes until the server-wide table is full; linking must still work
// for everyone else. The devices of one account are bounded too.
func TestAdversaryLinkHubFill(t *testing.T) {
	plan := &addrPlan{}
	ts := startServerAt(t, plan.next, func(c *server.Config) {
		c.MaxLinkBoxes = 40
	})
	open := func(c *client, i int) bool {
		var box [32]byte
		box[0], box[1] = byte(i), 0xa5
		_, ok := c.call(&wire.LinkOpen{Mailbox: box, LinkKey: []byte("k")}).(*wire.OK)
		return ok
	}
	opened := 0
	for i := range 60 {
		c := dial(t, ts, newIdentity(newAccount())) // never registered
		c.hello()
		if open(c, i) {
			opened++
		}
		// The attacker's sessions stay open (their boxes stay theirs).
	}
	if opened > 40/2 {
		t.Errorf("one /64 opened %d of the server's 40 linking mailboxes", opened)
	}
	plan.honest.Store(true)
	c := dial(t, ts, newIdentity(newAccount()))
	c.hello()
	c.must(&wire.LinkOpen{Mailbox: [32]byte{0xff}, LinkKey: []byte("k")}, wire.TypeOK)

	// Registered devices of one account (from addresses of their own).
	acc := newAccount()
	opened = 0
	for i := range 8 {
		if open(connect(t, ts, newIdentity(acc)), 100+i) {
			opened++
		}
	}
	if opened != server.DefaultMaxLinkBoxesPerAccount {
		t.Errorf("one account's devices opened %d linking mailboxes, want the cap %d", opened, server.DefaultMaxLinkBoxesPerAccount)
	}
}

// TestSessionCap: the server holds at most MaxSessions sessions; the next
// connection is closed before its handshake, and one is served again once
// a session ends.
func TestSessionCap(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxSessions, c.MaxSessionsPerAddr = 3, -1 })
	var live []*client
	for range 3 {
		live = append(live, connect(t, ts, newIdentity(newAccount())))
	}
	if c, err := tryDial(ts, newIdentity(newAccount())); err == nil {
		// The handshake may finish before the server notices; the session
		// must not be served.
		if _, err := c.tryCall(&wire.Ping{}); err == nil {
			t.Fatal("a session beyond MaxSessions was served")
		}
	}
	live[0].sc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := tryDial(ts, newIdentity(newAccount()))
		if err == nil {
			if _, err = c.tryCall(&wire.Ping{}); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session after one ended: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdversarySessionCapFill: one /64 opens sessions until the
// server-wide cap; it must get only its share, and clients elsewhere still
// connect.
func TestAdversarySessionCapFill(t *testing.T) {
	plan := &addrPlan{}
	ts := startServerAt(t, plan.next, func(c *server.Config) {
		c.MaxSessions = 12
		c.MaxSessionsPerAddr = 4
	})
	held := 0
	for range 12 {
		c, err := tryDial(ts, newIdentity(newAccount()))
		if err != nil {
			continue
		}
		if _, err := c.tryCall(&wire.ClientHello{MinVersion: 1, MaxVersion: 1}); err == nil {
			held++ // and kept open
		}
	}
	if held > 4 {
		t.Fatalf("one /64 holds %d of the server's 12 sessions, want at most 4", held)
	}
	plan.honest.Store(true)
	for range 3 {
		connect(t, ts, newIdentity(newAccount()))
	}
}
