package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/wire"
)

// caughtUpSeen is a CaughtUp push and how many Delivers the connection had
// brought before it.
type caughtUpSeen struct {
	m      *wire.CaughtUp
	before int
}

// nextCaughtUp returns the next CaughtUp push or fails after a timeout.
func (c *client) nextCaughtUp() caughtUpSeen {
	c.t.Helper()
	select {
	case s := <-c.caught:
		return s
	case <-time.After(10 * time.Second):
		c.t.Fatal("no CaughtUp within 10s")
		return caughtUpSeen{}
	}
}

// noCaughtUp checks that no CaughtUp arrives for a short while.
func (c *client) noCaughtUp() {
	c.t.Helper()
	select {
	case s := <-c.caught:
		c.t.Fatalf("unexpected CaughtUp %+v", s.m)
	case <-time.After(200 * time.Millisecond):
	}
}

// fillMailbox registers to's device, has a fresh sender queue n messages
// for it, and returns their payloads in order.
func fillMailbox(t *testing.T, ts *testServer, to identity, n int) []string {
	t.Helper()
	connect(t, ts, to).sc.Close()
	sender := connect(t, ts, newIdentity(newAccount()))
	var sent []string
	for i := range n {
		p := fmt.Sprintf("backlog %d", i)
		sender.must(app(p, to.deviceID()), wire.TypeAck)
		sent = append(sent, p)
	}
	return sent
}

// checkBacklog reads the Delivers of sent in order, acknowledging each, and
// then the marker, which must come after all of them.
func checkBacklog(t *testing.T, c *client, sent []string) {
	t.Helper()
	var last uint64
	for _, p := range sent {
		d := c.next()
		if string(d.Payload) != p {
			t.Fatalf("delivered %q, want %q", d.Payload, p)
		}
		last = d.Seq
		c.must(&wire.AckDelivery{UpToSeq: d.Seq}, wire.TypeOK)
	}
	s := c.nextCaughtUp()
	if s.before != len(sent) || s.m.UpToSeq != last {
		t.Fatalf("CaughtUp{%d} after %d Delivers, want CaughtUp{%d} after the backlog of %d", s.m.UpToSeq, s.before, last, len(sent))
	}
}

// TestCaughtUpAfterBacklog: AckDelivery{0} after Subscribe gets a CaughtUp
// push after every Deliver of the backlog (wire.md §6.6a), with a backlog
// larger than one read of the mailbox and than the push window (the marker
// waits for acknowledgements), and at once on an empty mailbox.
func TestCaughtUpAfterBacklog(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.PushWindow = 8 })
	bob := newIdentity(newAccount())
	cb := connect(t, ts, bob)
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	cb.must(wire.AskCaughtUp(), wire.TypeOK)
	if s := cb.nextCaughtUp(); s.before != 0 || s.m.UpToSeq != 0 {
		t.Fatalf("empty mailbox: CaughtUp{%d} after %d Delivers, want CaughtUp{0} at once", s.m.UpToSeq, s.before)
	}
	cb.sc.Close()

	sent := fillMailbox(t, ts, bob, 40)
	cb = connect(t, ts, bob)
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	cb.must(wire.AskCaughtUp(), wire.TypeOK)
	checkBacklog(t, cb, sent)
	cb.noCaughtUp() // one request, one marker
}

// TestCaughtUpOnlyWhenAsked: a session that never asks (every client before
// wire.md §6.6a) never sees the new push type, and a request before
// Subscribe is only an acknowledgement of nothing.
func TestCaughtUpOnlyWhenAsked(t *testing.T) {
	ts := startServer(t, nil)
	bob := newIdentity(newAccount())
	sent := fillMailbox(t, ts, bob, 3)
	cb := connect(t, ts, bob)
	cb.must(wire.AskCaughtUp(), wire.TypeOK)
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	for range sent {
		cb.next()
	}
	cb.noCaughtUp()
}

// TestTwoNodesCaughtUp: the backlog stored through one node is pushed
// before the marker on the node that holds the subscription, and a marker
// asked on the second connection counts the backlog again (nothing was
// acknowledged).
func TestTwoNodesCaughtUp(t *testing.T) {
	n := twoNodes(t)
	bob := newIdentity(newAccount())
	sent := fillMailbox(t, n[0], bob, 20)
	for _, node := range n {
		cb := connect(t, node, bob)
		cb.must(&wire.Subscribe{}, wire.TypeOK)
		cb.must(wire.AskCaughtUp(), wire.TypeOK)
		for _, p := range sent {
			if d := cb.next(); string(d.Payload) != p {
				t.Fatalf("delivered %q, want %q", d.Payload, p)
			}
		}
		if s := cb.nextCaughtUp(); s.before != len(sent) {
			t.Fatalf("CaughtUp after %d Delivers, want after the backlog of %d", s.before, len(sent))
		}
		cb.sc.Close()
	}
}
