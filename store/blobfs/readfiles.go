package blobfs

import (
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// Open pack files for reads. Opening a pack for each chunk read (openat,
// fstat, close: about as much time as reading the 256 KiB) is most of a
// read's cost beside the copy, so a store keeps up to maxReadFiles packs
// open, the least recently read closed first. A pack that expires or is
// compacted is dropped from the cache when it is deleted (forgetRead) and
// its file closed once the reads under way on it end, so that its disk
// space is freed and nothing reads it again: a read that looks the chunk
// up after the deletion does not find it (or finds its new place), as
// before.

// maxReadFiles bounds the pack files a store keeps open for reading; past
// it a read opens and closes its pack as before (when every cached file is
// being read).
const maxReadFiles = 32

// readFiles is a store's cache of pack files open for reading.
type readFiles struct {
	mu    sync.Mutex
	open  map[*pack]*readFile
	clock uint64 // counts acquires, for the least recently read
}

// readFile is a pack file open for reading.
type readFile struct {
	f       *os.File
	refs    int    // reads under way
	used    uint64 // clock of the last acquire
	dropped bool   // out of the cache: the last release closes f
}

// readPack fills b from p at off; a pack deleted, or cut short, is
// fs.ErrNotExist.
func (s *Store) readPack(p *pack, b []byte, off int64) error {
	rf, err := s.acquireRead(p)
	if err != nil {
		return err
	}
	_, err = rf.f.ReadAt(b, off)
	s.releaseRead(rf)
	if err != nil {
		return fmt.Errorf("%w (%w)", fs.ErrNotExist, err)
	}
	return nil
}

// acquireRead returns p's file open for reading; releaseRead it after.
func (s *Store) acquireRead(p *pack) (*readFile, error) {
	r := &s.reads
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock++
	if rf, ok := r.open[p]; ok {
		rf.refs++
		rf.used = r.clock
		return rf, nil
	}
	// Checked under r.mu: a pack deleted after this check is forgotten
	// (forgetRead, which waits for r.mu) after its file is cached here.
	s.mu.RLock()
	deleted := p.deleted
	s.mu.RUnlock()
	if deleted {
		return nil, fmt.Errorf("blobfs: reading a chunk of a deleted pack: %w", fs.ErrNotExist)
	}
	f, err := os.Open(p.path)
	if err != nil {
		return nil, err
	}
	rf := &readFile{f: f, refs: 1, used: r.clock}
	if len(r.open) >= maxReadFiles {
		r.evictLocked()
	}
	if len(r.open) < maxReadFiles {
		if r.open == nil {
			r.open = map[*pack]*readFile{}
		}
		r.open[p] = rf
	} else {
		rf.dropped = true // every cached file is being read: not cached
	}
	return rf, nil
}

// releaseRead ends a read of rf.
func (s *Store) releaseRead(rf *readFile) {
	r := &s.reads
	r.mu.Lock()
	defer r.mu.Unlock()
	if rf.refs--; rf.refs == 0 && rf.dropped {
		rf.f.Close()
	}
}

// evictLocked closes the least recently read cached file that no read is
// using, if there is one (under r.mu).
func (r *readFiles) evictLocked() {
	var victim *pack
	for p, rf := range r.open {
		if rf.refs == 0 && (victim == nil || rf.used < r.open[victim].used) {
			victim = p
		}
	}
	if victim != nil {
		r.dropLocked(victim)
	}
}

// dropLocked takes p's file out of the cache and closes it now or, if it
// is being read, when its last read ends (under r.mu).
func (r *readFiles) dropLocked(p *pack) {
	rf, ok := r.open[p]
	if !ok {
		return
	}
	delete(r.open, p)
	rf.dropped = true
	if rf.refs == 0 {
		rf.f.Close()
	}
}

// forgetRead drops the cached file of p, which is deleted (p.deleted is
// set before, under s.mu): call it before the file is removed.
func (s *Store) forgetRead(p *pack) {
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	s.reads.dropLocked(p)
}

// closeReads closes every cached file (Close).
func (s *Store) closeReads() {
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	for p := range s.reads.open {
		s.reads.dropLocked(p)
	}
}
