package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

// request is one write waiting for the writer: either a Send or a generic
// operation (registration, KeyPackages, ack, expiry).
type request struct {
	send *store.Send                                  // Recipients already deduplicated
	op   func(ctx context.Context, c *sql.Conn) error // runs inside the batch transaction
	done chan store.Answer                            // buffered (1)
}

// writer is the single goroutine that owns the only write connection and
// commits queued requests in batches: one transaction, one fsync. Its caches
// are only touched by run, and it is the only writer of devices.last_seq and
// groups, so what it caches cannot change under it.
type writer struct {
	ctx      context.Context
	s        *Store
	conn     *sql.Conn // pinned write connection; transactions are explicit BEGIN/COMMIT
	reqs     chan *request
	stopped  chan struct{} // closed once run returned and answered every queued request
	maxBatch int
	linger   time.Duration

	batches, requests atomic.Int64 // committed so far, for Stats
	active            atomic.Int64 // callers inside submit: how many requests may be about to arrive

	devs   map[store.DeviceID]devSeq  // committed number and last seq per registered device (a cache)
	epochs map[store.GroupHash]uint64 // committed groups.epoch (known groups only; a cache)
	stmts  map[stmtKey]*sql.Stmt      // prepared on conn, by shape

	// seen holds every MsgID in seen_msgs: the membership test of
	// idempotent retries, so that seen_msgs is only ever appended to. It is
	// not a cache: it must equal the table. seenStale says a failed batch
	// may have left them apart, and the next batch reloads it first.
	seen      map[store.MsgID]struct{}
	seenStale bool
	maxSeen   int // entries before the oldest are forgotten
	onBatch   func(sends int, d time.Duration)
	ov        *overlay // the open batch's overlay, for ops that must edit it
}

const cacheLimit = 1 << 17 // entries per cache before it is dropped

func newWriter(ctx context.Context, s *Store, conn *sql.Conn, o *Options) *writer {
	return &writer{
		ctx:       ctx,
		s:         s,
		conn:      conn,
		reqs:      make(chan *request, o.MaxBatch),
		stopped:   make(chan struct{}),
		maxBatch:  o.MaxBatch,
		linger:    o.Linger,
		devs:      make(map[store.DeviceID]devSeq),
		epochs:    make(map[store.GroupHash]uint64),
		stmts:     make(map[stmtKey]*sql.Stmt),
		seenStale: true, // loaded by the first batch
		maxSeen:   o.MaxSeen,
		onBatch:   o.OnBatch,
	}
}

// loadSeen reads seen_msgs into w.seen.
func (w *writer) loadSeen(ctx context.Context) error {
	rows, err := w.conn.QueryContext(ctx, `SELECT msg_id FROM seen_msgs`)
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := make(map[store.MsgID]struct{})
	var b []byte
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return err
		}
		if len(b) != len(store.MsgID{}) {
			return fmt.Errorf("corrupt seen_msgs row: id of %d bytes", len(b))
		}
		seen[store.MsgID(b)] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.seen, w.seenStale = seen, false
	return nil
}

// submit queues r and waits for its answer; what names the operation in errors.
func (w *writer) submit(ctx context.Context, what string, r *request) (store.Result, error) {
	w.active.Add(1)
	defer w.active.Add(-1)
	if err := w.queueActive(ctx, what, r); err != nil {
		return store.Result{}, err
	}
	return w.await(ctx, what, r)
}

// queue puts r in the writer's queue without waiting for its answer.
func (w *writer) queue(ctx context.Context, what string, r *request) error {
	// Counted while it may block, so that collect lingers for it.
	w.active.Add(1)
	defer w.active.Add(-1)
	return w.queueActive(ctx, what, r)
}

func (w *writer) queueActive(ctx context.Context, what string, r *request) error {
	if w.ctx.Err() != nil {
		return w.closedErr(what)
	}
	select {
	case w.reqs <- r:
		return nil
	case <-w.stopped:
		return w.closedErr(what)
	case <-ctx.Done():
		return fmt.Errorf("store: doing %s: %w", what, ctx.Err())
	}
}

// await waits for the answer to a queued r, or for ctx to end (the writer
// answers every queued request, even when it stops).
func (w *writer) await(ctx context.Context, what string, r *request) (store.Result, error) {
	return w.queueView().Await(ctx, what, r.done)
}

// queueView is the writer's queue as its callers see it.
func (w *writer) queueView() store.Queue { return store.Queue{Stopped: w.stopped, Pkg: "store"} }

// closedErr is built only when needed: submit runs per message.
func (w *writer) closedErr(what string) error { return w.queueView().Closed(what) }

// do runs op in the writer's next transaction and returns its error.
func (w *writer) do(ctx context.Context, what string, op func(ctx context.Context, c *sql.Conn) error) error {
	_, err := w.submit(ctx, what, &request{op: op, done: make(chan store.Answer, 1)})
	return err
}

func (w *writer) run() {
	defer func() {
		store.RefuseQueued(w.reqs, func(r *request) chan<- store.Answer { return r.done }, w.closedErr("write"))
		close(w.stopped)
	}()
	batch := make([]*request, 0, w.maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-w.ctx.Done():
			return
		case r := <-w.reqs:
			batch = append(batch, r)
		}
		batch = w.collect(batch)
		if err := w.commit(batch); err != nil {
			// Nothing of the batch is stored; what the caches learned
			// inside the failed transaction may be wrong.
			clear(w.devs)
			clear(w.epochs)
			w.seenStale = true
			err = fmt.Errorf("store: doing batch commit: %w", err)
			for _, r := range batch {
				r.done <- store.Answer{Err: err}
			}
		}
	}
}

// collect adds whatever is already queued, up to maxBatch. If fewer
// requests are queued than callers are active, it waits up to the linger
// time for the others: under load, one fsync then carries them all. A lone
// caller never waits.
func (w *writer) collect(batch []*request) []*request {
	var deadline <-chan time.Time
	for len(batch) < w.maxBatch {
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		if w.linger <= 0 || int64(len(batch)) >= w.active.Load() {
			return batch
		}
		if deadline == nil {
			t := time.NewTimer(w.linger)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
		case <-deadline:
			return batch
		case <-w.ctx.Done():
			return batch
		}
	}
	return batch
}

// devSeq is what the writer knows of a registered device: its row number
// (mailbox.device_num) and the last seq it was given.
type devSeq struct {
	num  int64
	last uint64
}

// overlay is what the open transaction has changed so far: later requests
// of the batch must see it, the caches only once it is committed.
type overlay struct {
	devs       map[store.DeviceID]devSeq
	epochs     map[store.GroupHash]uint64
	seen       map[store.MsgID]struct{} // MsgIDs appended to seen_msgs
	forgotten  map[store.MsgID]struct{} // MsgIDs deleted from seen_msgs (and not appended again)
	sends      int                      // Sends in the batch
	touched    []store.DeviceID         // devices with new entries, in first-touch order
	touchedSet map[store.DeviceID]struct{}
	answers    []store.Answer // per request of the batch
}

// forget records that id was deleted from seen_msgs in this transaction.
func (ov *overlay) forget(id store.MsgID) {
	delete(ov.seen, id)
	ov.forgotten[id] = struct{}{}
}

// commit writes batch in one transaction. On success it answers every
// request; on error it answers none (run answers them all with it).
func (w *writer) commit(batch []*request) (err error) {
	ctx := context.Background() // a started batch finishes; Close waits for it
	start := time.Now()
	if w.seenStale {
		if err := w.loadSeen(ctx); err != nil {
			return err
		}
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	ov := &overlay{
		devs:       make(map[store.DeviceID]devSeq),
		epochs:     make(map[store.GroupHash]uint64),
		seen:       make(map[store.MsgID]struct{}),
		forgotten:  make(map[store.MsgID]struct{}),
		touchedSet: make(map[store.DeviceID]struct{}),
		answers:    make([]store.Answer, len(batch)),
	}
	w.ov = ov
	defer func() { w.ov = nil }()
	if err := w.evictSeen(ctx, ov); err != nil {
		return err
	}
	if err := w.runBatch(ctx, batch, ov); err != nil {
		return err
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	// Durable: publish to the caches, announce, answer.
	w.s.ckpt.committed()
	w.batches.Add(1)
	w.requests.Add(int64(len(batch)))
	w.publish(ov)
	// Announce before answering, so that a Watch registered when Enqueue
	// returns has its signal already (store.Store's Watch contract; the
	// other order let a caller see the answer, then a late signal).
	w.s.Announce(ov.touched)
	for i, r := range batch {
		r.done <- ov.answers[i]
	}
	if w.onBatch != nil && ov.sends > 0 {
		w.onBatch(ov.sends, time.Since(start))
	}
	return nil
}

// runBatch runs the batch's requests in the open transaction, in order:
// an operation alone, consecutive Sends together.
func (w *writer) runBatch(ctx context.Context, batch []*request, ov *overlay) error {
	for i := 0; i < len(batch); {
		if batch[i].op != nil {
			if err := w.runOp(ctx, batch[i], &ov.answers[i]); err != nil {
				return err
			}
			i++
			continue
		}
		j := i
		for j < len(batch) && batch[j].op == nil {
			j++
		}
		if err := w.sends(ctx, batch[i:j], ov, ov.answers[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// publish moves a committed batch's overlay into the writer's caches,
// dropping a cache that grew past cacheLimit.
func (w *writer) publish(ov *overlay) {
	maps.Copy(w.devs, ov.devs)
	maps.Copy(w.epochs, ov.epochs)
	for id := range ov.forgotten {
		delete(w.seen, id)
	}
	for id := range ov.seen {
		w.seen[id] = struct{}{}
	}
	if len(w.devs) > cacheLimit {
		clear(w.devs)
	}
	if len(w.epochs) > cacheLimit {
		clear(w.epochs)
	}
}

// evictSeen forgets the oldest eighth of the seen MsgIDs when there are
// more than maxSeen, so that the writer's memory stays bounded (about 40
// bytes per id) whatever the message rate: a retry of a message that old is
// then delivered again, and recipients drop it by its MsgID (wire.md §6.4).
func (w *writer) evictSeen(ctx context.Context, ov *overlay) error {
	if w.maxSeen <= 0 || len(w.seen) <= w.maxSeen {
		return nil
	}
	n := len(w.seen) - w.maxSeen + w.maxSeen/8
	rows, err := w.conn.QueryContext(ctx, `DELETE FROM seen_msgs WHERE id IN (SELECT id FROM seen_msgs ORDER BY id LIMIT ?) RETURNING msg_id`, n)
	if err != nil {
		return err
	}
	defer rows.Close()
	var b []byte
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return err
		}
		if len(b) == len(store.MsgID{}) {
			ov.forget(store.MsgID(b))
		}
	}
	return rows.Err()
}

// runOp runs one generic operation inside a savepoint, so that its own
// failure (say, a refused registration) undoes only its own writes. A
// failure to roll back to the savepoint fails the whole batch.
func (w *writer) runOp(ctx context.Context, r *request, answer *store.Answer) error {
	if _, err := w.conn.ExecContext(ctx, "SAVEPOINT op"); err != nil {
		return err
	}
	if opErr := r.op(ctx, w.conn); opErr != nil {
		if _, err := w.conn.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
			return err
		}
		answer.Err = opErr
	}
	_, err := w.conn.ExecContext(ctx, "RELEASE op")
	return err
}

func (w *writer) closeStmts() {
	for k, st := range w.stmts {
		st.Close()
		delete(w.stmts, k)
	}
}

// Stats counts the writer's committed work since Open.
type Stats struct {
	Batches  int64 // transactions committed (one fsync each)
	Requests int64 // Sends and other writes they carried
}

// Stats returns what the writer has committed so far; Requests/Batches is
// the mean group-commit batch size.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.w.batches.Load(), Requests: s.w.requests.Load()}
}
