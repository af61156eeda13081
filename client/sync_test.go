//go:build !js

package client

import (
	"context"
	"crypto/sha256"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
)

// hidingStore is a server's store that, while hide is set, reports every
// mailbox empty: the server then marks the end of the backlog before it
// pushes the backlog, as a lying or broken server would.
type hidingStore struct {
	*sqlite.Store
	hide atomic.Bool
}

func (h *hidingStore) Pending(ctx context.Context, device store.DeviceID, after uint64, limit int) ([]store.Entry, error) {
	if h.hide.Load() {
		return nil, nil
	}
	return h.Store.Pending(ctx, device, after, limit)
}

// startHidingServer runs a real server on a hidingStore.
func startHidingServer(t *testing.T) (ServerLink, *hidingStore) {
	t.Helper()
	st := sqlitetest.Open(t)
	hs := &hidingStore{Store: st}
	key, addr := servertest.Serve(t, server.Config{Store: hs}, func() { st.Close() })
	return ServerLink{Key: key, Addrs: []string{addr}}, hs
}

// syncByMark runs Sync with a quiet period far longer than its context, so
// that only the end-of-backlog mark (wire.md §6.6a) can end it in time.
func syncByMark(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := c.syncs.byMarker.Load()
	if err := c.Sync(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil || c.syncs.byMarker.Load() != before+1 {
		t.Fatalf("Sync ended by its context (%v), not by the end of the backlog: the server's mark was not used", ctx.Err())
	}
}

// hasText reports whether c has stored text from someone else in chat.
func hasText(t *testing.T, c *Client, chat, text string) bool {
	t.Helper()
	ms, err := c.Messages(context.Background(), chat, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Kind == MessageText && !m.Out && m.Text == text {
			return true
		}
	}
	return false
}

// TestSyncEndsAtBacklogMark: Sync returns once the server's mark has come
// and the backlog before it is stored, not after a quiet period (before
// wire.md §6.6a it always waited for one), with a backlog and without.
func TestSyncEndsAtBacklogMark(t *testing.T) {
	_, alice, bob := twoFriends(t)
	syncByMark(t, alice) // nothing waiting
	alice.Close()
	send(t, bob, "alice", "one")
	send(t, bob, "alice", "two")
	alice = reopen(t, alice, nil)
	syncByMark(t, alice)
	for _, text := range []string{"one", "two"} {
		if !hasText(t, alice, "bob", text) {
			t.Fatalf("Sync returned before the backlog message %q was stored", text)
		}
	}
	syncByMark(t, alice) // the mark of this connection still holds
}

// TestSyncWithoutMark: from a server that never marks the end of the
// backlog (one before wire.md §6.6a), Sync returns after a quiet inbox,
// with the backlog stored.
func TestSyncWithoutMark(t *testing.T) {
	_, alice, bob := twoFriends(t)
	alice.Close()
	send(t, bob, "alice", "one")
	alice = reopen(t, alice, func(c *Client) { c.testNoMark = true })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := alice.Sync(ctx, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil || alice.syncs.byQuiet.Load() != 1 || alice.syncs.byMarker.Load() != 0 {
		t.Fatalf("Sync: context %v, %d by a quiet inbox, %d by a mark; want 1 by a quiet inbox", ctx.Err(), alice.syncs.byQuiet.Load(), alice.syncs.byMarker.Load())
	}
	if !hasText(t, alice, "bob", "one") {
		t.Fatal("Sync returned before the backlog was stored")
	}
}

// TestSyncMarkGrace: when a server that sends marks sends none on this
// connection (a path that stalls without breaking), Sync waits markGrace
// quiet periods for it and then takes a quiet inbox.
func TestSyncMarkGrace(t *testing.T) {
	_, alice, _ := twoFriends(t)
	alice = reopen(t, alice, func(c *Client) { c.testNoMark, c.inbox.marked = true, true })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const quiet = 100 * time.Millisecond
	start := time.Now()
	if err := alice.Sync(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < markGrace*quiet || ctx.Err() != nil || alice.syncs.byQuiet.Load() != 1 {
		t.Fatalf("Sync took %v (context %v, %d by a quiet inbox); want at least %v, then a quiet inbox", took, ctx.Err(), alice.syncs.byQuiet.Load(), markGrace*quiet)
	}
}

// TestAdversarySyncEarlyMark: a server that marks the end of the backlog
// before it pushes the backlog makes Sync return early, and nothing more:
// the messages are stored when they come, and acknowledged only then.
func TestAdversarySyncEarlyMark(t *testing.T) {
	link, hs := startHidingServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	alice.Close()
	send(t, bob, "alice", "one")
	send(t, bob, "alice", "two")

	hs.hide.Store(true)
	alice = reopen(t, alice, nil)
	syncByMark(t, alice)
	if hasText(t, alice, "bob", "one") {
		t.Fatal("the server hid the backlog, yet it was stored: the test proves nothing")
	}
	hs.hide.Store(false)
	send(t, bob, "alice", "three") // wakes alice's subscription
	for _, text := range []string{"one", "two", "three"} {
		waitText(t, alice, "bob", "bob", text)
	}
	dk := alice.DeviceKey()
	device := store.DeviceID(sha256.Sum256(dk[:]))
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, err := hs.Store.Pending(context.Background(), device, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries never acknowledged after they were stored", len(left))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAdversaryMalformedCaughtUp: a CaughtUp frame that does not decode
// ends its connection with the decoder's error and reaches no mark; the
// client's own connection goes on working.
func TestAdversaryMalformedCaughtUp(t *testing.T) {
	_, alice, bob := twoFriends(t)
	mark := alice.inbox.newMark()
	ws := fakeServer(t, alice, alice.inbox.frameHandler(mark), func(conn *securechan.Conn) {
		// CaughtUp (0x0202), request id 0, a 4-byte body: up_to_seq is 8.
		conn.Send([]byte{0, 1, 0x02, 0x02, 0, 0, 0, 0, 0, 0, 0, 7})
	})
	select {
	case <-ws.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a malformed CaughtUp did not end the connection")
	}
	if e := ws.Err(); e == nil || !strings.Contains(e.Error(), "undecodable frame") || !strings.Contains(e.Error(), "CaughtUp") {
		t.Fatalf("the connection ended with %v, want the decoder's error naming CaughtUp", e)
	}
	select {
	case <-mark.reached:
		t.Fatal("a malformed CaughtUp reached its mark")
	case <-time.After(100 * time.Millisecond):
	}
	send(t, bob, "alice", "still here")
	waitText(t, alice, "bob", "bob", "still here")
	syncByMark(t, alice)
}

// TestSyncWaitsForTheBook: through a link with a book key, Sync returns
// with the connection's endpoint book fetched, so that a command that
// exits right after it has learned the relays the book adds (with the
// quiet period it once always waited, the fetch happened to finish first).
func TestSyncWaitsForTheBook(t *testing.T) {
	srvLn, _ := net.Listen("tcp", "127.0.0.1:0")
	fa, fb := startForwarder(t, "127.0.0.1:0", srvLn.Addr().String()), startForwarder(t, "127.0.0.1:0", srvLn.Addr().String())
	sl := bookServer(t, srvLn, []reach.Entry{directEntry("relay-a", fa.addr()), directEntry("relay-b", fb.addr())}, "relay-a")
	c, err := Init(InitOptions{Options: userOptions(t, filepath.Join(t.TempDir(), "alice"), "alice"), Server: sl, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, c)
	syncByMark(t, c)
	if known := strings.Join(c.KnownPaths(), " "); !strings.Contains(known, `"relay-b"`) {
		t.Fatalf("Sync returned before the book that brings relay B: known %s", known)
	}
}
