package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

// request is one write waiting for the writer: either a Send or a generic
// operation (registration, KeyPackages, ack, expiry).
type request struct {
	send *store.Send                                  // Recipients already deduplicated
	op   func(ctx context.Context, c *sql.Conn) error // runs inside the batch transaction
	done chan response                                // buffered (1)
}

type response struct {
	res store.Result
	err error
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

	lastSeq map[store.DeviceID]uint64  // committed devices.last_seq
	epochs  map[store.GroupHash]uint64 // committed groups.epoch (known groups only)
	stmts   map[stmtKey]*sql.Stmt      // prepared on conn, by shape
}

const cacheLimit = 1 << 17 // entries per cache before it is dropped

func newWriter(ctx context.Context, s *Store, conn *sql.Conn, maxBatch int, linger time.Duration) *writer {
	return &writer{
		ctx:      ctx,
		s:        s,
		conn:     conn,
		reqs:     make(chan *request, maxBatch),
		stopped:  make(chan struct{}),
		maxBatch: maxBatch,
		linger:   linger,
		lastSeq:  make(map[store.DeviceID]uint64),
		epochs:   make(map[store.GroupHash]uint64),
		stmts:    make(map[stmtKey]*sql.Stmt),
	}
}

// submit queues r and waits for its answer; what names the operation in errors.
func (w *writer) submit(ctx context.Context, what string, r *request) (store.Result, error) {
	w.active.Add(1)
	defer w.active.Add(-1)
	closedErr := fmt.Errorf("store: doing %s: %w", what, store.ErrClosed)
	if w.ctx.Err() != nil {
		return store.Result{}, closedErr
	}
	select {
	case w.reqs <- r:
	case <-w.stopped:
		return store.Result{}, closedErr
	case <-ctx.Done():
		return store.Result{}, fmt.Errorf("store: doing %s: %w", what, ctx.Err())
	}
	select {
	case resp := <-r.done:
		return resp.res, resp.err
	case <-w.stopped:
		select {
		case resp := <-r.done:
			return resp.res, resp.err
		default:
			return store.Result{}, closedErr
		}
	case <-ctx.Done():
		return store.Result{}, fmt.Errorf("store: doing %s (it may still be committed): %w", what, ctx.Err())
	}
}

// do runs op in the writer's next transaction and returns its error.
func (w *writer) do(ctx context.Context, what string, op func(ctx context.Context, c *sql.Conn) error) error {
	_, err := w.submit(ctx, what, &request{op: op, done: make(chan response, 1)})
	return err
}

func (w *writer) run() {
	defer func() {
		closedErr := fmt.Errorf("store: doing write: %w", store.ErrClosed)
		for {
			select {
			case r := <-w.reqs:
				r.done <- response{err: closedErr}
			default:
				close(w.stopped)
				return
			}
		}
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
			clear(w.lastSeq)
			clear(w.epochs)
			err = fmt.Errorf("store: doing batch commit: %w", err)
			for _, r := range batch {
				r.done <- response{err: err}
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

// overlay is what the open transaction has changed so far: later requests
// of the batch must see it, the caches only once it is committed.
type overlay struct {
	seqs       map[store.DeviceID]uint64
	epochs     map[store.GroupHash]uint64
	touched    []store.DeviceID // devices with new entries, in first-touch order
	touchedSet map[store.DeviceID]struct{}
	answers    []response // per request of the batch
}

// commit writes batch in one transaction. On success it answers every
// request; on error it answers none (run answers them all with it).
func (w *writer) commit(batch []*request) (err error) {
	ctx := context.Background() // a started batch finishes; Close waits for it
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			w.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	ov := &overlay{
		seqs:       make(map[store.DeviceID]uint64),
		epochs:     make(map[store.GroupHash]uint64),
		touchedSet: make(map[store.DeviceID]struct{}),
		answers:    make([]response, len(batch)),
	}
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
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	// Durable: publish to the caches, answer, announce.
	w.batches.Add(1)
	w.requests.Add(int64(len(batch)))
	for d, seq := range ov.seqs {
		w.lastSeq[d] = seq
	}
	for g, e := range ov.epochs {
		w.epochs[g] = e
	}
	if len(w.lastSeq) > cacheLimit {
		clear(w.lastSeq)
	}
	if len(w.epochs) > cacheLimit {
		clear(w.epochs)
	}
	for i, r := range batch {
		r.done <- ov.answers[i]
	}
	w.s.Announce(ov.touched)
	return nil
}

// runOp runs one generic operation inside a savepoint, so that its own
// failure (say, a refused registration) undoes only its own writes. A
// failure to roll back to the savepoint fails the whole batch.
func (w *writer) runOp(ctx context.Context, r *request, answer *response) error {
	if _, err := w.conn.ExecContext(ctx, "SAVEPOINT op"); err != nil {
		return err
	}
	if opErr := r.op(ctx, w.conn); opErr != nil {
		if _, err := w.conn.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
			return err
		}
		answer.err = opErr
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
