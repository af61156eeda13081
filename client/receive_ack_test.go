//go:build !js

package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// failingEngine is a local store whose next commit of a delivered message
// (a transaction that marked a message seen) fails, once, while armed.
type failingEngine struct {
	storeEngine
	armed  atomic.Bool
	onFail func()
}

func (e *failingEngine) begin(ctx context.Context) (engineTx, error) {
	t, err := e.storeEngine.begin(ctx)
	if err != nil {
		return nil, err
	}
	return &failingTx{engineTx: t, e: e}, nil
}

type failingTx struct {
	engineTx
	e    *failingEngine
	seen bool
}

func (t *failingTx) markSeen(id []byte) (bool, error) {
	t.seen = true
	return t.engineTx.markSeen(id)
}

func (t *failingTx) commit() error {
	if t.seen && t.e.armed.CompareAndSwap(true, false) {
		t.engineTx.rollback()
		t.e.onFail()
		return errors.New("injected failure: disk full")
	}
	return t.engineTx.commit()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestAdversaryStoreFailureKeepsMessage: the local store fails on the
// first message of a backlog of three, and the client reconnects before
// it reaches the other two, which it had queued from the same connection.
// The server hides the mailbox from the new connection until a fourth
// message comes, so that anything acknowledged by then is gone from it.
// Every message must still be stored exactly once and in order, and the
// mailbox emptied only by acknowledgements of stored messages.
func TestAdversaryStoreFailureKeepsMessage(t *testing.T) {
	link, hs := startHidingServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	syncByMark(t, alice)
	alice.Close()
	for _, text := range []string{"one", "two", "three"} {
		send(t, bob, "alice", text)
	}

	var failed atomic.Pointer[session] // the connection the failure came on
	alice = reopen(t, alice, func(c *Client) {
		fe := &failingEngine{storeEngine: c.store.eng}
		fe.armed.Store(true)
		fe.onFail = func() {
			c.sessMu.Lock()
			failed.Store(c.sess)
			c.sessMu.Unlock()
			hs.hide.Store(true)
		}
		c.store.eng = fe
		c.testHookDeliver = func(*wire.Deliver) {
			if fe.armed.Load() {
				// The first: hold it until the connection's whole backlog
				// is queued behind it (its mark included).
				waitFor(t, "the backlog queued", func() bool {
					c.inbox.mu.Lock()
					defer c.inbox.mu.Unlock()
					return slices.ContainsFunc(c.inbox.queue, func(it inboxItem) bool { return it.d == nil })
				})
				return
			}
			if old := failed.Load(); old != nil {
				// After the failure: the next connection is up first.
				waitFor(t, "the next connection", func() bool {
					c.sessMu.Lock()
					defer c.sessMu.Unlock()
					return c.sess != nil && c.sess != old && c.sess.alive()
				})
			}
		}
	})
	waitFor(t, "the injected failure", func() bool { return failed.Load() != nil })
	time.Sleep(300 * time.Millisecond) // let the queued rest be processed (or dropped)

	hs.hide.Store(false)
	send(t, bob, "alice", "four") // wakes alice's subscription
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !slices.Contains(got, "four"); time.Sleep(20 * time.Millisecond) {
		got = received(t, alice, "bob")
	}
	if want := []string{"one", "two", "three", "four"}; !slices.Equal(got, want) {
		t.Fatalf("alice stored %q, want %q once each in order: a message whose store failed was acknowledged away", got, want)
	}
	syncByMark(t, alice)
	dk := alice.DeviceKey()
	waitFor(t, "the mailbox emptied by acknowledgements", func() bool {
		left, err := hs.Store.Pending(context.Background(), store.DeviceID(sha256.Sum256(dk[:])), 0, 100)
		return err == nil && len(left) == 0
	})
}

// received lists the texts c stored from others in chat, in order.
func received(t *testing.T, c *Client, chat string) []string {
	t.Helper()
	ms, err := c.Messages(context.Background(), chat, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		if m.Kind == MessageText && !m.Out {
			got = append(got, m.Text)
		}
	}
	return got
}
