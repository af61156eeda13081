// Package postgres is the store.Store (and store.ChannelStore) for
// operators who run PostgreSQL: every write is one transaction through a
// pgx connection pool, made safe under concurrency by row locks taken in
// one fixed order (seen id, recipient devices by id, group), so that a
// group accepts one commit per epoch and a device's mailbox seqs commit in
// order and are never reused. Watch is signalled in-process after COMMIT,
// so it reaches the watchers of this process only.
//
// The schema is created and migrated on Open (table samizdat_schema_version);
// its tables are those of store/sqlite, described in
// docs/what-the-server-knows.md.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/samizdat-project/samizdat/store"
)

// Options tune a Store; the zero value is the production default.
type Options struct {
	// MaxConns caps the connection pool (default DefaultMaxConns, unless
	// the DSN sets pool_max_conns). Each Send holds a connection until its
	// transaction has committed, and PostgreSQL commits concurrent
	// transactions together, so the pool bounds durable sends per second:
	// pgxpool's own default (4 on 2 cores) held the server to about 1,100/s.
	MaxConns int32
	// Now is the clock for timestamps (default time.Now).
	Now func() time.Time
	// MaxBatch caps the Sends of one group commit (default 4096).
	MaxBatch int
	// Pipeline is how many batches may be committing at once, each on a
	// connection of its own, while the next takes its locks (default 4).
	Pipeline int
	// OnCommit, if set, is called after each batch committed and before
	// its Sends are answered, with the devices each Send was delivered to
	// (for tests and metrics).
	OnCommit func(delivered [][]store.DeviceID)
	// OnBatch, if set, is called after each committed batch with its
	// number of Sends and the time from its first statement to its
	// COMMIT (as store/sqlite's, for the server's metrics).
	OnBatch func(sends int, d time.Duration)
}

// DefaultMaxConns is the connection pool's default size.
const DefaultMaxConns = 32

// Store is the PostgreSQL store.Store.
type Store struct {
	store.Newsroom

	pool *pgxpool.Pool
	now  func() time.Time

	isClosed  atomic.Bool
	stopCtx   func() bool // unregisters the owning context's callback
	closeOnce sync.Once

	// The batcher of Sends (sends.go).
	life       context.Context // ends at Close or when the owning context ends
	endLife    context.CancelFunc
	reqs       chan *sendReq
	stopped    chan struct{} // closed when the batcher is done
	slots      chan struct{} // one token per committing batch
	committing sync.WaitGroup
	maxBatch   int
	onCommit   func([][]store.DeviceID)
	onBatch    func(int, time.Duration)
}

var (
	_ store.Store        = (*Store)(nil)
	_ store.ChannelStore = (*Store)(nil)
)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value connection string) and migrates it. ctx bounds the connection
// and the migration, and owns the store: when it ends, further calls fail
// with store.ErrClosed; Close does the same and also releases the pool.
func Open(ctx context.Context, dsn string, o *Options) (*Store, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: doing parse of the connection string: %w", err)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: doing connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: doing connect: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	if opts.Pipeline <= 0 {
		opts.Pipeline = defaultPipeline
	}
	s := &Store{pool: pool, now: opts.Now,
		reqs:     make(chan *sendReq, opts.MaxBatch),
		stopped:  make(chan struct{}),
		slots:    make(chan struct{}, opts.Pipeline),
		maxBatch: opts.MaxBatch,
		onCommit: opts.OnCommit,
		onBatch:  opts.OnBatch,
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	s.stopCtx = context.AfterFunc(ctx, func() {
		s.isClosed.Store(true)
		s.endLife()
	})
	go s.runBatcher()
	return s, nil
}

// Close releases the pool. Calls after Close return store.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.isClosed.Store(true)
		s.stopCtx()
		s.endLife()
		<-s.stopped // every queued Send answered, every batch committed or failed
		s.pool.Close()
	})
	return nil
}

// check returns the error of a call on a closed store, naming what.
func (s *Store) check(what string) error {
	if s.isClosed.Load() {
		return fmt.Errorf("postgres: doing %s: %w", what, store.ErrClosed)
	}
	return nil
}

func (s *Store) unix() int64 { return s.now().Unix() }

// maxAttempts bounds the retries of a transaction that PostgreSQL aborted
// as a deadlock victim or a serialization failure.
const maxAttempts = 10

// retryable reports whether err is worth running the transaction again for.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// inTx runs fn in a READ COMMITTED transaction and commits it if fn
// returns keep and no error; otherwise it rolls back. Errors of fn are
// returned as they are (fn wraps its own); the transaction's own are
// wrapped as "postgres: doing what". A deadlock or serialization failure
// runs fn again from the start.
func (s *Store) inTx(ctx context.Context, what string, fn func(tx pgx.Tx) (keep bool, err error)) error {
	if err := s.check(what); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, what, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) tryTx(ctx context.Context, what string, fn func(tx pgx.Tx) (bool, error)) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.wrap(what, err)
	}
	keep, err := fn(tx)
	if err != nil || !keep {
		tx.Rollback(context.Background())
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return s.wrap(what+" commit", err)
	}
	return nil
}

// wrap wraps a database error as "postgres: doing what", reporting a pool
// closed under a call as store.ErrClosed.
func (s *Store) wrap(what string, err error) error {
	if s.isClosed.Load() {
		return fmt.Errorf("postgres: doing %s: %w (%v)", what, store.ErrClosed, err)
	}
	return fmt.Errorf("postgres: doing %s: %w", what, err)
}

// lockKey is the advisory-lock key of a device id: PutDevice and
// RevokeDevice of one id take it, so a registration cannot slip past a
// concurrent revocation.
func lockKey(id store.DeviceID) int64 {
	var k int64
	for _, b := range id[:8] {
		k = k<<8 | int64(b)
	}
	return k
}

// pooledConn is a connection held by a batch from its first stage to its
// COMMIT.
type pooledConn struct{ c *pgxpool.Conn }

func (s *Store) acquire(ctx context.Context) (*pooledConn, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pooledConn{c: c}, nil
}

func (p *pooledConn) conn() *pgx.Conn { return p.c.Conn() }

func (p *pooledConn) release() { p.c.Release() }

// rollback ends whatever transaction the connection is in and returns it to
// the pool; a connection that cannot roll back is closed instead.
func (p *pooledConn) rollback() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.c.Exec(ctx, `ROLLBACK`); err != nil {
		p.c.Conn().Close(ctx)
	}
	p.c.Release()
}

// sortedKeys returns the keys of m, each as a byte slice, in byte order.
func sortedKeys[K comparable](m map[K]struct{}, bytesOf func(K) []byte) [][]byte {
	out := make([][]byte, 0, len(m))
	for k := range m {
		out = append(out, bytesOf(k))
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

func msgBytes(k store.MsgID) []byte       { return k[:] }
func devBytes(k store.DeviceID) []byte    { return k[:] }
func groupBytes(k store.GroupHash) []byte { return k[:] }
