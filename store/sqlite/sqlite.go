// Package sqlite is the default, zero-set-up store.Store: one SQLite file in
// WAL mode with synchronous=FULL, written by a single goroutine that commits
// concurrent Enqueues together (group commit: one transaction and one fsync
// for many messages), and read through a separate read-only connection pool.
// It uses modernc.org/sqlite (pure Go, driver name "sqlite").
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/store"
	_ "modernc.org/sqlite"
)

// Options tune a Store; the zero value is the production default.
type Options struct {
	// MaxBatch caps how many Sends one transaction commits (default
	// defaultMaxBatch).
	MaxBatch int
	// Linger is how long the writer may wait for more requests when fewer
	// are queued than callers are waiting (default 1ms; negative: never
	// wait). A lone caller is committed at once whatever the setting.
	Linger time.Duration
	// ReadConns is the size of the read-only pool (default 4).
	ReadConns int
	// Now is the clock for timestamps (default time.Now).
	Now func() time.Time
	// MaxSeen caps how many MsgIDs the writer remembers for idempotent
	// retries (default 4,194,304, about 160 MiB of memory); past it, the
	// oldest are forgotten before ExpireSeen would drop them. Negative: no cap.
	MaxSeen int
	// CheckpointInterval is the least time between two background WAL
	// checkpoints (default 250ms; see checkpoint.go). Negative: SQLite's
	// automatic checkpoints, run inside the writer's COMMIT every 1000 pages.
	CheckpointInterval time.Duration
	// OnBatch, if set, is called by the writer after each committed
	// transaction that carried Sends, with their number and the time from
	// BEGIN to the end of COMMIT (server.Metrics.ObserveBatch fits).
	OnBatch func(sends int, d time.Duration)
}

// Store is the SQLite store.Store.
type Store struct {
	store.Newsroom

	write *sql.DB // one connection, pinned by the writer goroutine: every write goes through it
	read  *sql.DB // read-only pool
	ckpt  *checkpointer
	now   func() time.Time
	w     *writer

	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// defaultMaxBatch is the most Sends one transaction commits unless Options
// say otherwise. With pipelined sessions (server/pipeline.go) thousands of
// Sends can be queued at once; 8192 gave 20% more durable sends/s than
// 2048 at 100 sessions x 64 in flight, with a lower p99, and 16384 no more
// (docs/benchmarks.md).
const defaultMaxBatch = 8192

// pragmas every connection gets. synchronous=FULL in WAL mode makes every
// commit fsync the WAL, so an acknowledged Send survives power loss.
// extra pragmas follow them (the writer's checkpoint settings).
func dsn(path string, readOnly bool, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Statement journals (multi-row INSERTs, savepoints) stay in memory
	// instead of temp files; the cache holds the hot mailbox pages.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "cache_size(-65536)")
	// Zero deleted content inside pages (docs/what-the-server-knows.md).
	q.Add("_pragma", "secure_delete(FAST)")
	for _, p := range extra {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed) the database file at path and migrates
// it. ctx owns the background writer: when ctx ends, the writer stops and
// further writes fail with store.ErrClosed; Close does the same and also
// releases the file.
func Open(ctx context.Context, path string, o *Options) (*Store, error) {
	opts := o.withDefaults()
	write, err := openWriteDB(ctx, path, opts.CheckpointInterval > 0)
	if err != nil {
		return nil, err
	}
	read, err := openReadDB(ctx, path, opts.ReadConns)
	if err != nil {
		write.Close()
		return nil, err
	}
	conn, err := write.Conn(ctx)
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("store: doing open of %s for writing: %w", path, err)
	}
	ckptDB, err := sql.Open("sqlite", dsn(path, false))
	if err == nil {
		ckptDB.SetMaxOpenConns(1)
		ckptDB.SetConnMaxIdleTime(0)
		err = ckptDB.PingContext(ctx)
	}
	if err != nil {
		conn.Close()
		write.Close()
		read.Close()
		return nil, fmt.Errorf("store: doing open of %s for checkpoints: %w", path, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	s := &Store{write: write, read: read, now: opts.Now, cancel: cancel, ckpt: newCheckpointer(ckptDB)}
	s.w = newWriter(wctx, s, conn, &opts)
	if opts.CheckpointInterval > 0 {
		go s.ckpt.run(wctx, opts.CheckpointInterval)
	} else {
		close(s.ckpt.stopped)
	}
	go s.w.run()
	return s, nil
}

// withDefaults returns the options with every unset field at its default
// (o may be nil).
func (o *Options) withDefaults() Options {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	if opts.Linger == 0 {
		opts.Linger = time.Millisecond
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = 250 * time.Millisecond
	}
	if opts.MaxSeen == 0 {
		opts.MaxSeen = 1 << 22
	}
	return opts
}

// openWriteDB opens the single-connection pool of the writer and brings
// the schema up to date. ownCheckpoints turns SQLite's automatic WAL
// checkpoints off, for the store's checkpointer to run them.
func openWriteDB(ctx context.Context, path string, ownCheckpoints bool) (*sql.DB, error) {
	var wp []string
	if ownCheckpoints {
		wp = []string{"wal_autocheckpoint(0)", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit)}
	}
	write, err := sql.Open("sqlite", dsn(path, false, wp...))
	if err != nil {
		return nil, fmt.Errorf("store: doing open of %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}
	if err := migrateChannels(ctx, write); err != nil { // channels.go
		write.Close()
		return nil, err
	}
	return write, nil
}

// openReadDB opens the read-only pool of n connections.
func openReadDB(ctx context.Context, path string, n int) (*sql.DB, error) {
	read, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("store: doing open of %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxIdleTime(0)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		return nil, fmt.Errorf("store: doing open of %s for reading: %w", path, err)
	}
	return read, nil
}

// Close stops the writer (pending Enqueues fail with store.ErrClosed) and
// closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.w.stopped
		<-s.ckpt.stopped
		s.ckpt.db.Close()
		s.w.closeStmts()
		s.w.conn.Close()
		err1 := s.read.Close()
		err2 := s.write.Close() // the last connection: checkpoints and removes the WAL
		if err1 != nil {
			s.closeErr = fmt.Errorf("store: doing close: %w", err1)
		} else if err2 != nil {
			s.closeErr = fmt.Errorf("store: doing close: %w", err2)
		}
	})
	return s.closeErr
}

// closed reports whether Close was called or the owning context ended.
func (s *Store) closed() bool {
	select {
	case <-s.w.stopped:
		return true
	default:
		return s.w.ctx.Err() != nil
	}
}

func (s *Store) unix() int64 { return s.now().Unix() }
