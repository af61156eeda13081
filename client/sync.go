package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// The end of the backlog (docs/spec/wire.md §6.6a). Each connection asks
// for a CaughtUp push right after Subscribe; the server sends it after
// every Deliver of what the mailbox held. The session's reader queues it
// in the inbox behind those Delivers, so that the inbox reaches the mark
// once every one of them is processed. Sync waits for the mark of the
// connection in use; a server that never sends one leaves Sync to its old
// rule, a quiet inbox.

// backlogMark is one connection's end of the backlog; it also names the
// connection that the inbox items tagged with it came on (receive.go).
type backlogMark struct {
	reached chan struct{} // closed once the inbox passed the mark
	once    sync.Once
	// sess is the connection, set once its handshake is done (before it
	// can deliver anything); Delivers are acknowledged on it.
	sess atomic.Pointer[Session]
	// failed (guarded by the inbox's mu): a Deliver of this connection
	// could not be stored, and its later items, this mark included, are
	// dropped (receive.go): the backlog ends only on a later connection.
	failed bool
}

// newMark returns the mark of a connection opening now; nil b (a session
// that takes no deliveries) gives a mark never reached.
func (b *inbox) newMark() *backlogMark {
	return &backlogMark{reached: make(chan struct{})}
}

// reach records that the inbox processed every Deliver queued before m.
func (b *inbox) reach(m *backlogMark) {
	b.mu.Lock()
	b.marked = true
	b.mu.Unlock()
	m.once.Do(func() { close(m.reached) })
}

// serverMarks reports whether this server has sent a CaughtUp (so that
// Sync need not fall back on a quiet inbox).
func (b *inbox) serverMarks() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.marked
}

// frameHandler takes a connection's pushes into b (nil b drops them): its
// Delivers, then its CaughtUp as the mark m.
func (b *inbox) frameHandler(m *backlogMark) FrameHandler {
	if b == nil {
		return deliverHandler(func(*wire.Deliver) {}, func() {})
	}
	return deliverHandler(func(d *wire.Deliver) { b.add(inboxItem{d: d, conn: m}) }, func() { b.add(inboxItem{conn: m}) })
}

// syncCounts counts why Sync calls returned, for tests.
type syncCounts struct {
	byMarker, byQuiet atomic.Int64
}

// Sync waits until the client is online and has processed the backlog of
// its mailbox: every message the server held for this device when the
// connection opened, committed to the local store. With a server link
// that carries a book key (reach.go), it also waits for the connection's
// first fetch of the endpoint book, so that a command that runs briefly
// still learns the relays the server hands out. Messages that arrive
// later are new, not backlog: Sync does not wait for them (they are
// processed as they come). A server that does not mark the end of the
// backlog (wire.md §6.6a) leaves Sync to wait until the mailbox has been
// quiet for quiet (and at least that long), which is also the rule until
// the first mark of this server arrives, and again after markGrace times
// quiet without the mark (a path that stalls without breaking must not
// hold Sync longer than that). Sync returns nil when ctx ends.
func (c *Client) Sync(ctx context.Context, quiet time.Duration) error {
	start := time.Now()
	tick := time.NewTicker(max(quiet/4, time.Millisecond))
	defer tick.Stop()
	for {
		s, err := c.online(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !c.awaitBacklog(ctx, s, tick.C, func() bool {
			waited := time.Since(start)
			return waited >= quiet && (!c.inbox.serverMarks() || waited >= markGrace*quiet) && c.inbox.idleFor(quiet)
		}) {
			continue
		}
		if s.booked != nil { // bounded by the fetch's own timeout
			select {
			case <-s.booked:
			case <-s.Done():
			case <-ctx.Done():
			}
		}
		return nil
	}
}

// markGrace is how many quiet periods Sync waits for the mark of a server
// that sends marks before it takes a quiet inbox instead.
const markGrace = 10

// awaitBacklog waits for the mark of s, or ctx's end, or quiet (checked on
// every tick) to hold; false means s ended first, and the next
// connection's mark is the one to wait for.
func (c *Client) awaitBacklog(ctx context.Context, s *session, tick <-chan time.Time, quiet func() bool) bool {
	var reached chan struct{}
	if s.backlog != nil {
		reached = s.backlog.reached
	}
	for {
		select {
		case <-reached:
			c.syncs.byMarker.Add(1)
			return true
		case <-ctx.Done():
			return true
		case <-s.Done():
			select {
			case <-reached:
				c.syncs.byMarker.Add(1)
				return true
			default:
				return false
			}
		case <-tick:
			if quiet() {
				c.syncs.byQuiet.Add(1)
				return true
			}
		}
	}
}
