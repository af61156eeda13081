//go:build !js

package client

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/reach"
)

// TestReportsBlockedRelay: connected through relay A, the client checks
// the other relays of its book; B is dead (blocked from here), C works.
// It reports B alone, and the book the server answers with revokes B.
func TestReportsBlockedRelay(t *testing.T) {
	srvLn, _ := net.Listen("tcp", "127.0.0.1:0")
	fa, fc := startForwarder(t, "127.0.0.1:0", srvLn.Addr().String()), startForwarder(t, "127.0.0.1:0", srvLn.Addr().String())
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	dead.Close()
	sl := bookServer(t, srvLn, []reach.Entry{directEntry("relay-a", fa.addr()), directEntry("relay-b", dead.Addr().String()), directEntry("relay-c", fc.addr())}, "relay-a")
	changes := make(chan BookChange, 4)
	o := userOptions(t, t.TempDir()+"/alice", "alice")
	o.OnBook = func(b BookChange) { changes <- b }
	c, err := Init(InitOptions{Options: o, Server: sl, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, c)
	var ch BookChange
	for len(ch.Reported) == 0 { // the first changes are the book's relays arriving
		select {
		case ch = <-changes:
			t.Logf("%v", ch)
		case <-time.After(20 * time.Second):
			t.Fatalf("no report within 20 s; the client knows %v", c.KnownPaths())
		}
	}
	if want := []string{"relay-b"}; !slices.Equal(ch.Reported, want) || !slices.Equal(ch.Revoked, want) {
		t.Errorf("book change %v; want relay-b reported and revoked", ch)
	}
	for _, p := range c.KnownPaths() {
		if p == `relay "relay-b" (direct)` {
			t.Errorf("relay B is still in the book: %v", c.KnownPaths())
		}
	}
}
