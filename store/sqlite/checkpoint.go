package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints copy the WAL back into the database file. SQLite's automatic
// checkpoint would run inside the writer's COMMIT (the writer waiting for a
// database-file write and fsync); here the writer's connection has
// wal_autocheckpoint off and a checkpointer goroutine on its own connection
// does the work while the writer goes on committing.
//
// After each commit the writer pokes the checkpointer. It runs a PASSIVE
// checkpoint (never blocks the writer or readers) at most every interval
// (Options.CheckpointInterval: 20ms was worse than SQLite's own
// checkpoints at one caller, the checkpoints' fsyncs competing with the
// commits'; 250ms and 1s were not, within the noise); once a checkpoint has copied every frame, the writer's
// next transaction rewinds the WAL to its start, so the WAL stays as small
// as one interval's writes. If the WAL still grows past checkpointRestart
// (readers pinning old frames, or a writer outrunning it), a RESTART
// checkpoint waits for the writer to pause and forces the rewind; and
// journal_size_limit truncates the file back after a burst.
const (
	checkpointRestart = 64 << 20 / 4096 // WAL frames (4 KiB pages) before RESTART
	walSizeLimit      = 64 << 20        // bytes the WAL file is truncated to after a rewind
)

type checkpointer struct {
	db      *sql.DB
	poke    chan struct{} // buffered (1): the writer committed something
	stopped chan struct{}
}

func newCheckpointer(db *sql.DB) *checkpointer {
	return &checkpointer{db: db, poke: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// committed tells the checkpointer there is new WAL content; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx context.Context, interval time.Duration) {
	defer close(c.stopped)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.poke:
		}
		mode := "PASSIVE"
		for {
			var busy, frames, copied int64
			if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied); err != nil {
				break // closing, or the disk failed: the writer reports its own errors
			}
			if frames < checkpointRestart || mode == "RESTART" {
				break
			}
			mode = "RESTART"
		}
		t.Reset(interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
