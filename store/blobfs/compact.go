package blobfs

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Compaction (docs/spec/attachments.md §5.2): a pack expires whole, so one
// chunk asked for would keep every chunk stored in the same hour, past
// their retention. Each expiry run looks for packs (not the active one)
// whose chunks within their retention (by their own clocks) are under a
// quarter of its bytes, appends those chunks to the active pack and
// deletes the pack.
const compactBelow = 4

// liveChunk is a chunk of a pack to compact that is within its retention.
type liveChunk struct {
	h [32]byte
	l loc
}

// compactPacks compacts the packs mostly past before and returns the
// chunks and bytes it deleted.
func (s *Store) compactPacks(ctx context.Context, before time.Time) (n int, bytes int64, err error) {
	b := before.UnixNano()
	s.w.Lock()
	active := s.active
	s.w.Unlock()
	live, liveBytes := map[*pack][]liveChunk{}, map[*pack]int64{}
	var victims []*pack
	s.mu.RLock()
	for h, l := range s.index {
		if l.p != active && atomic.LoadInt64(&l.p.clocks[l.slot]) >= b {
			live[l.p] = append(live[l.p], liveChunk{h, l})
			liveBytes[l.p] += int64(l.n)
		}
	}
	for _, p := range s.packs {
		if p != active && liveBytes[p]*compactBelow < p.bytes {
			victims = append(victims, p)
		}
	}
	s.mu.RUnlock()
	for _, p := range victims {
		for _, c := range live[p] {
			if err := ctx.Err(); err != nil {
				return n, bytes, err
			}
			if err := s.move(c.h, c.l); err != nil {
				return n, bytes, err
			}
		}
		dn, db, err := s.dropPack(p, b)
		if err != nil {
			return n, bytes, err
		}
		n, bytes = n+dn, bytes+db
	}
	return n, bytes, nil
}

// move appends chunk h, at old, to the active pack and points the index
// at the copy once it is durable, with the chunk's clock. A damaged
// record is dropped instead.
func (s *Store) move(h [32]byte, old loc) error {
	data := make([]byte, old.n)
	if err := s.readPack(old.p, data, old.off); err != nil || dataCRC(data) != old.crc {
		s.drop(h, old)
		return nil
	}
	p, off, err := s.appendDurable(record{hash: h, n: old.n, crc: old.crc}, data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.index[h]; !ok || cur.p != old.p || cur.off != old.off || p.deleted {
		return nil // dropped or expired meanwhile
	}
	clock := atomic.LoadInt64(&old.p.clocks[old.slot])
	delete(s.index, h)
	old.p.chunks--
	old.p.bytes -= int64(old.n)
	s.insert(h, loc{p: p, off: off, n: old.n, crc: old.crc}, clock)
	return nil
}

// dropPack deletes p and the chunks the index still places in it, unless
// one of them was asked for since the compaction began (then p waits for
// the next run), and returns how many chunks and bytes went.
func (s *Store) dropPack(p *pack, before int64) (n int, bytes int64, err error) {
	s.mu.Lock()
	if p.deleted { // by another expiry run meanwhile
		s.mu.Unlock()
		return 0, 0, nil
	}
	for _, l := range s.index {
		if l.p == p && atomic.LoadInt64(&p.clocks[l.slot]) >= before {
			s.mu.Unlock()
			return 0, 0, nil
		}
	}
	for h, l := range s.index {
		if l.p == p {
			delete(s.index, h)
		}
	}
	n, bytes = p.chunks, p.bytes
	p.deleted = true
	delete(s.packs, p.seq)
	s.mu.Unlock()
	s.forgetRead(p)
	if err := os.Remove(p.path); err != nil {
		return n, bytes, fmt.Errorf("blobfs: removing a compacted pack: %w", err)
	}
	return n, bytes, nil
}
