package client

import (
	"os"

	"golang.org/x/sys/unix"
)

// writebackEvery is how many bytes a download writes between two requests
// to start writing its file to the disk.
const writebackEvery = 2 << 20

// writeback starts the disk writes of a file being downloaded while the
// download goes on, on a goroutine of its own, so that the fsync that
// ends the download (finishPart) finds most of the file written instead
// of writing all of it then. It only starts writes (sync_file_range with
// SYNC_FILE_RANGE_WRITE): durability still comes from that fsync.
type writeback struct {
	kick    chan struct{}
	ended   chan struct{}
	pending int64 // bytes written since the last kick; the writer's own
}

// startWriteback starts the writeback goroutine for f; stop it before f
// is closed.
func startWriteback(f *os.File) *writeback {
	w := &writeback{kick: make(chan struct{}, 1), ended: make(chan struct{})}
	fd := int(f.Fd())
	go func() {
		defer close(w.ended)
		for range w.kick {
			// The whole file: the pages already under writeback or clean
			// are skipped. An error only loses the head start.
			_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		}
	}()
	return w
}

// wrote counts n bytes written (by one writer at a time) and wakes the
// goroutine every writebackEvery bytes; it never blocks.
func (w *writeback) wrote(n int) {
	if w.pending += int64(n); w.pending < writebackEvery {
		return
	}
	w.pending = 0
	select {
	case w.kick <- struct{}{}:
	default: // a kick is queued already: it covers these bytes too
	}
}

// stop ends the goroutine and waits for it.
func (w *writeback) stop() {
	close(w.kick)
	<-w.ended
}
