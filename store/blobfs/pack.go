package blobfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// pack is one append-only pack file (record.go).
type pack struct {
	seq  uint64
	path string

	// clock is the latest time (unix nanoseconds, by the store's clock) one
	// of its chunks was stored or asked for; persisted is the clock last
	// written as the file's mtime (at most once per persistEvery).
	clock, persisted atomic.Int64

	// Under Store.mu: the chunks the index places here, their bytes, and
	// whether the file is deleted; the clock of each chunk (unix
	// nanoseconds, read and set atomically under Store.mu's read lock,
	// appended under its write lock), which compaction reads.
	chunks  int
	bytes   int64
	deleted bool
	clocks  []int64

	// Under Store.w while the pack takes appends: its writable file, the
	// offset of its end and when it was created (by the store's clock).
	f       *os.File
	end     int64
	created time.Time

	sync groupSync
}

const (
	// persistEvery: a pack's clock is written to its mtime at most this
	// often; at Open a pack's clock is its mtime plus this much, so that it
	// never expires before its last use plus the retention.
	persistEvery = time.Minute
	packsDir     = "packs"
)

func packName(seq uint64) string { return fmt.Sprintf("%016x.pack", seq) }

// refresh moves the pack's clock to now, and its mtime too if the last one
// written is persistEvery old.
func (p *pack) refresh(now time.Time) {
	t := now.UnixNano()
	for {
		c := p.clock.Load()
		if c >= t || p.clock.CompareAndSwap(c, t) {
			break
		}
	}
	last := p.persisted.Load()
	if t-last >= int64(persistEvery) && p.persisted.CompareAndSwap(last, t) {
		os.Chtimes(p.path, now, now) // best effort: if it fails, the clock read at the next Open is older
	}
}

// syncFile is fdatasync (a variable so that a test can make it fail).
var syncFile = fdatasync

// syncCount counts the group commits' fdatasyncs (for the benchmarks).
var syncCount atomic.Uint64

// groupSync is the group commit of one pack file: a writer whose record is
// written waits for an fdatasync that started after its write finished;
// one fdatasync covers every write before it, so concurrent writers share
// them.
type groupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // fdatasyncs started
	done    uint64 // fdatasyncs finished (one at a time, so in order)
	running bool
	sealed  bool  // the file was synced and closed when the pack stopped taking appends
	err     error // a failed fdatasync: the pack's unacknowledged writes may be lost
}

// wait returns once a sync of f that started after the call has finished.
func (g *groupSync) wait(f *os.File) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	need := g.started + 1
	for g.done < need && !g.sealed && g.err == nil {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		mine := g.started
		g.mu.Unlock()
		syncCount.Add(1)
		err := syncFile(f)
		g.mu.Lock()
		g.running = false
		if err != nil && !g.sealed {
			g.err = err
		}
		g.done = mine
		g.cond.Broadcast()
	}
	if g.sealed {
		return nil
	}
	return g.err
}

// seal marks every write of the pack durable once the caller has synced
// it, so that waiters whose sync would find the file closed return.
func (g *groupSync) seal() {
	g.mu.Lock()
	g.sealed = true
	if g.cond != nil {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// appendRecord writes r's header and data at the end of the active pack
// (starting a new pack when there is none, it is full or it is old) and
// returns the pack, its file and the offset of the data. The caller waits
// for p.sync.wait(f) before it acknowledges the chunk.
func (s *Store) appendRecord(r record, data []byte) (*pack, *os.File, int64, error) {
	s.w.Lock()
	defer s.w.Unlock()
	now := s.now()
	if p := s.active; p != nil && (p.end+headerSize+int64(len(data)) > s.opt.PackBytes || now.Sub(p.created) >= s.opt.PackAge) {
		s.retire(p)
	}
	if s.active == nil {
		if err := s.startPack(now); err != nil {
			return nil, nil, 0, err
		}
	}
	p := s.active
	p.refresh(now) // before the write: expiry must not take a pack being written
	var hdr [headerSize]byte
	encodeHeader(hdr[:], r)
	off := p.end
	_, err := p.f.WriteAt(hdr[:], off)
	if err == nil {
		_, err = p.f.WriteAt(data, off+headerSize)
	}
	if err != nil {
		if p.f.Truncate(off) != nil { // the tail is unknown: append elsewhere
			s.retire(p)
		}
		return nil, nil, 0, fmt.Errorf("blobfs: writing a chunk: %w", err)
	}
	p.end = off + headerSize + int64(len(data))
	return p, p.f, off + headerSize, nil
}

// startPack creates the next pack file and syncs its directory, under s.w.
func (s *Store) startPack(now time.Time) error {
	s.mu.Lock()
	s.lastSeq++
	seq := s.lastSeq
	s.mu.Unlock()
	path := filepath.Join(s.dir, packsDir, packName(seq))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("blobfs: creating a pack file: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("blobfs: syncing the packs directory: %w", err)
	}
	p := &pack{seq: seq, path: path, f: f, created: now}
	p.clock.Store(now.UnixNano())
	s.mu.Lock()
	s.packs[seq] = p
	s.mu.Unlock()
	s.active = p
	return nil
}

// retire ends appends to p (under s.w): its writes are synced, waiters
// released and its file closed; readers open it by path.
func (s *Store) retire(p *pack) {
	if s.active == p {
		s.active = nil
	}
	if p.f == nil {
		return
	}
	if err := syncFile(p.f); err == nil {
		p.sync.seal()
	} else {
		p.sync.mu.Lock()
		p.sync.err = errors.Join(p.sync.err, err)
		p.sync.mu.Unlock()
	}
	p.f.Close()
	p.f = nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
