package server_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
	"github.com/samizdat-project/samizdat/wire"
)

// TestPipelinedSends sends many Sends back to back without waiting for
// their Acks (wire.md §1), with a commit, a duplicate, a Send to a device
// that is not registered, one over the size limit, and a Ping among them.
// Every request is answered, each Send once; the Ping's answer comes after
// the Acks of the Sends before it; the recipient's mailbox holds the Sends
// in the order they were sent.
func TestPipelinedSends(t *testing.T) {
	sq := sqlitetest.Open(t)
	counting := &countingStore{Store: sq}
	ts := startServerWith(t, counting, sq, func(c *server.Config) {
		c.Limits = wire.ProtocolLimits
		c.Limits.MaxPayload = 4096
	})
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca := connect(t, ts, alice)
	connect(t, ts, bob).sc.Close()
	stranger := newIdentity(newAccount()).deviceID() // never registered

	const n = 300
	g := group()
	type sent struct {
		id   uint32
		msg  wire.Message
		want wire.Type
	}
	var reqs []sent
	var order []string // payloads the mailbox must hold, in order
	for i := range n {
		var m wire.Message
		want := wire.TypeAck
		switch {
		case i == 100: // a commit in the stream
			m = &wire.Send{MsgID: msgID(), Group: g, Epoch: 0, Kind: wire.KindCommit, Recipients: []wire.DeviceID{bob.deviceID()}, Payload: []byte("commit")}
			order = append(order, "commit")
		case i == 101: // a stale commit for the same epoch: refused
			m = &wire.Send{MsgID: msgID(), Group: g, Epoch: 0, Kind: wire.KindCommit, Recipients: []wire.DeviceID{bob.deviceID()}, Payload: []byte("stale")}
			want = wire.TypeError
		case i == 150: // a retry of the Send just before: acknowledged, not stored twice
			m = reqs[149].msg
		case i == 160: // to a device not registered only: acknowledged, stored nowhere
			m = app("nobody", stranger)
		case i == 170: // to Bob and a stranger: Bob's copy is stored
			m = app("m170", stranger, bob.deviceID())
			order = append(order, "m170")
		case i == 200:
			m = &wire.Send{MsgID: msgID(), Kind: wire.KindApplication, Recipients: []wire.DeviceID{bob.deviceID()}, Payload: make([]byte, 5000)}
			want = wire.TypeError // over this server's limit
		case i%50 == 25:
			m = &wire.Ping{}
			want = wire.TypePong
		default:
			p := fmt.Sprintf("m%d", i)
			m = app(p, bob.deviceID())
			order = append(order, p)
		}
		reqs = append(reqs, sent{id: uint32(1000 + i), msg: m, want: want})
	}
	var batch [][]byte
	for _, r := range reqs {
		b, err := wire.Encode(wire.Frame{RequestID: r.id, Msg: r.msg})
		if err != nil {
			t.Fatalf("encoding request %d: %v", r.id, err)
		}
		batch = append(batch, b)
	}
	// All of them in a few writes, as a client with a deep outbox would.
	go func() {
		for len(batch) > 0 {
			k := min(40, len(batch))
			if err := ca.sc.SendBatch(batch[:k]); err != nil {
				t.Error(err)
				return
			}
			batch = batch[k:]
		}
	}()

	answered := map[uint32]bool{}
	for range reqs {
		var f wire.Frame
		select {
		case f = <-ca.frames:
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d requests answered within 20s", len(answered), len(reqs))
		}
		i := int(f.RequestID) - 1000
		if i < 0 || i >= len(reqs) || answered[f.RequestID] {
			t.Fatalf("an answer for request id %d, unknown or answered twice", f.RequestID)
		}
		answered[f.RequestID] = true
		if got := f.Msg.Type(); got != reqs[i].want {
			t.Fatalf("request %d (%v) answered %v %v, want %v", i, reqs[i].msg.Type(), got, f.Msg, reqs[i].want)
		}
		if f.Msg.Type() == wire.TypePong {
			for j := range i {
				if !answered[uint32(1000+j)] {
					t.Fatalf("the Ping of request %d was answered before request %d sent ahead of it", i, j)
				}
			}
		}
	}

	// Sends were queued while earlier ones were still unanswered: handled
	// one at a time, there would never be more than one.
	if m := counting.maxOutstanding.Load(); m < 2 {
		t.Errorf("at most %d Send was queued in the store and unanswered at a time; want the session's Sends pipelined", m)
	} else {
		t.Logf("up to %d Sends were queued and unanswered at once", m)
	}

	es, err := ts.store.Pending(t.Context(), store.DeviceID(bob.deviceID()), 0, store.MaxPendingLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(order) {
		t.Fatalf("Bob's mailbox has %d entries, want %d", len(es), len(order))
	}
	for k, e := range es {
		if string(e.Payload) != order[k] {
			t.Fatalf("mailbox entry %d is %q, want %q: Sends applied out of order", k, e.Payload, order[k])
		}
	}
}

// countingStore is the SQLite store, counting the Sends queued with
// EnqueueAsync and not yet answered.
type countingStore struct {
	*sqlite.Store
	outstanding, maxOutstanding atomic.Int64
}

func (c *countingStore) EnqueueAsync(ctx context.Context, s store.Send) store.PendingSend {
	n := c.outstanding.Add(1)
	for m := c.maxOutstanding.Load(); n > m && !c.maxOutstanding.CompareAndSwap(m, n); m = c.maxOutstanding.Load() {
	}
	return &countedSend{PendingSend: c.Store.EnqueueAsync(ctx, s), c: c}
}

type countedSend struct {
	store.PendingSend
	c    *countingStore
	done bool
}

func (p *countedSend) Wait() (store.Result, error) {
	res, err := p.PendingSend.Wait()
	if !p.done {
		p.done = true
		p.c.outstanding.Add(-1)
	}
	return res, err
}
