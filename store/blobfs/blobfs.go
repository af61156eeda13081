// Package blobfs is the default blob store: encrypted attachment chunks,
// addressed by the SHA-256 of their bytes, appended as records to pack
// files under one directory (docs/spec/attachments.md §5.2, record.go;
// docs/operator-guide.md "Files and the blob store"). Concurrent Puts
// share their fdatasyncs (group commit), and a Put returns only once its
// record is durable. An index in memory, rebuilt at Open from the records'
// headers, maps each address to its record; a read checks the record's
// CRC-32C. Up to 32 pack files stay open for reads (readfiles.go); a pack
// deleted by expiry or compaction is closed once its reads end. A pack's clock is the last time any of its chunks was stored or
// asked for; a pack is expired whole, or compacted once most of it is past
// its retention (ExpireChunks, compact.go). Chunk files of the
// older one-file-per-chunk layout are still read and expired (legacy.go).
// It imports only the standard library.
package blobfs

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrHashMismatch: the bytes are not the chunk the hash names. It wraps
// fs.ErrInvalid (what server.BlobParts asks for).
var ErrHashMismatch = fmt.Errorf("blobfs: chunk does not match its hash: %w", fs.ErrInvalid)

// Options tune a store; zero fields take the defaults.
type Options struct {
	// Now is the clock (time.Now).
	Now func() time.Time
	// PackBytes: a pack takes no record past this size (64 MiB).
	PackBytes int64
	// PackAge: a pack takes no record once this old (one hour), so that
	// chunks stored far apart in time are in different packs and expire
	// apart.
	PackAge time.Duration
}

// Store keeps chunks under its directory. Its methods are safe for
// concurrent use.
type Store struct {
	dir    string
	now    func() time.Time
	opt    Options
	legacy bool // the directory holds chunk files of the old layout

	mu      sync.RWMutex
	index   map[[32]byte]loc
	packs   map[uint64]*pack
	lastSeq uint64

	w      sync.Mutex // appends, in order, to active
	active *pack

	reads readFiles // pack files open for reading (readfiles.go)
}

// loc is where the index places a chunk: its data's offset in a pack, its
// length and CRC-32C, and the slot of its own clock in p.clocks.
type loc struct {
	p    *pack
	off  int64
	n    uint32
	crc  uint32
	slot uint32
}

// Open is OpenWith with the default options and the clock now (time.Now
// if nil).
func Open(dir string, now func() time.Time) (*Store, error) {
	return OpenWith(dir, Options{Now: now})
}

// OpenWith creates dir (mode 0700) if needed, reads the headers of its
// pack files (cutting a tail torn by a crash) and returns its store.
func OpenWith(dir string, o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PackBytes <= 0 {
		o.PackBytes = 64 << 20
	}
	if o.PackAge <= 0 {
		o.PackAge = time.Hour
	}
	for _, sub := range []string{"tmp", packsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("blobfs: creating %s: %w", dir, err)
		}
	}
	// Temporary files of a crash (of the old layout's writes) are garbage.
	if old, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil {
		for _, e := range old {
			os.Remove(filepath.Join(dir, "tmp", e.Name()))
		}
	}
	s := &Store{dir: dir, now: o.Now, opt: o, legacy: hasLegacyDirs(dir),
		index: map[[32]byte]loc{}, packs: map[uint64]*pack{}}
	if err := s.loadPacks(); err != nil {
		return nil, err
	}
	return s, nil
}

// loadPacks indexes the records of every pack file, oldest first (a chunk
// found twice is served from its latest copy: stored again after its first
// was found damaged, or in the freshest pack).
func (s *Store) loadPacks() error {
	es, err := os.ReadDir(filepath.Join(s.dir, packsDir))
	if err != nil {
		return fmt.Errorf("blobfs: listing pack files: %w", err)
	}
	var seqs []uint64
	for _, e := range es {
		hex, ok := strings.CutSuffix(e.Name(), ".pack")
		if seq, err := strconv.ParseUint(hex, 16, 64); ok && err == nil && len(hex) == 16 && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		s.lastSeq = seq
		path := filepath.Join(s.dir, packsDir, packName(seq))
		recs, err := scanPack(path, true)
		if err != nil {
			return fmt.Errorf("blobfs: reading pack file %s: %w", path, err)
		}
		if len(recs) == 0 {
			os.Remove(path) // started, then nothing acknowledged
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("blobfs: reading pack file %s: %w", path, err)
		}
		p := &pack{seq: seq, path: path}
		p.clock.Store(st.ModTime().Add(persistEvery).UnixNano())
		p.persisted.Store(st.ModTime().UnixNano())
		s.packs[seq] = p
		for _, r := range recs {
			if old, ok := s.index[r.hash]; ok {
				old.p.chunks--
				old.p.bytes -= int64(old.n)
				delete(s.index, r.hash)
			}
			s.insert(r.hash, loc{p: p, off: r.off, n: r.n, crc: r.crc}, p.clock.Load())
		}
	}
	return nil
}

// insert adds h at l, its clock at clock, to the index unless it is there
// already (under s.mu or before the store is shared).
func (s *Store) insert(h [32]byte, l loc, clock int64) {
	if _, ok := s.index[h]; ok {
		return
	}
	l.slot = uint32(len(l.p.clocks))
	l.p.clocks = append(l.p.clocks, clock)
	s.index[h] = l
	l.p.chunks++
	l.p.bytes += int64(l.n)
}

// Close ends appends to the active pack. The store must not be used after.
func (s *Store) Close() error {
	s.closeReads()
	s.w.Lock()
	defer s.w.Unlock()
	if p := s.active; p != nil {
		s.retire(p)
		if err := p.sync.wait(nil); err != nil {
			return fmt.Errorf("blobfs: syncing a pack file: %w", err)
		}
	}
	return nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// PutChunk checks that data hashes to h and stores it durably. Storing a
// chunk that is already there only refreshes its expiry.
func (s *Store) PutChunk(ctx context.Context, h [32]byte, data []byte) error {
	sum := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(sum[:], h[:]) != 1 {
		return ErrHashMismatch
	}
	return s.PutCheckedChunk(ctx, h, data)
}

// PutCheckedChunk is PutChunk for bytes the caller has already checked
// against h: the server hashes each chunk before it stores it, and a
// second hash here would only cost time. It appends the chunk's record to
// the active pack and returns once an fdatasync that started after the
// write finished has returned. It keeps no reference to data.
func (s *Store) PutCheckedChunk(ctx context.Context, h [32]byte, data []byte) error {
	if s.held(h) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(data) > maxRecordData {
		return fmt.Errorf("blobfs: a chunk of %d bytes is over the %d a record holds", len(data), maxRecordData)
	}
	r := record{hash: h, n: uint32(len(data)), crc: dataCRC(data)}
	for range 2 {
		p, off, err := s.appendDurable(r, data)
		if err != nil {
			return err
		}
		s.mu.Lock()
		gone := p.deleted
		if !gone {
			s.insert(h, loc{p: p, off: off, n: r.n, crc: r.crc}, s.now().UnixNano())
		}
		s.mu.Unlock()
		if !gone {
			return nil
		}
		// The pack expired between the write and the sync (a retention
		// shorter than a write): write the chunk again.
	}
	return fmt.Errorf("blobfs: a chunk's pack expired while it was written; lengthen the blob retention")
}

// appendDurable appends r and data to the active pack and returns once
// they are durable (a group-commit fdatasync that started after the write).
func (s *Store) appendDurable(r record, data []byte) (*pack, int64, error) {
	p, f, off, err := s.appendRecord(r, data)
	if err != nil {
		return nil, 0, err
	}
	if err := p.sync.wait(f); err != nil {
		// After a failed fdatasync the pack's unsynced pages may be lost
		// while a later fdatasync succeeds: append elsewhere.
		s.w.Lock()
		if s.active == p {
			s.retire(p)
		}
		s.w.Unlock()
		return nil, 0, fmt.Errorf("blobfs: syncing a chunk: %w", err)
	}
	return p, off, nil
}

// lookup returns where h is and refreshes its pack's clock.
func (s *Store) lookup(h [32]byte) (loc, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.index[h]
	if ok {
		now := s.now()
		l.p.refresh(now)
		atomic.StoreInt64(&l.p.clocks[l.slot], now.UnixNano())
	}
	return l, ok
}

// held reports whether h is stored (in a pack or a file of the old
// layout) and refreshes its clock if so.
func (s *Store) held(h [32]byte) bool {
	if _, ok := s.lookup(h); ok {
		return true
	}
	return s.legacy && s.touchFile(s.path(h)) == nil
}

// HasChunk reports whether h is stored, and if so refreshes its expiry (a
// client about to reference it in a message asks first).
func (s *Store) HasChunk(ctx context.Context, h [32]byte) (bool, error) {
	return s.held(h), nil
}

// GetChunk returns the chunk h, checked against its SHA-256 address (a
// damaged record is dropped and reported as not found). The error wraps
// fs.ErrNotExist when the chunk is not stored.
func (s *Store) GetChunk(ctx context.Context, h [32]byte) ([]byte, error) {
	b, err := s.ReadChunk(ctx, h, nil)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(b); subtle.ConstantTimeCompare(sum[:], h[:]) != 1 {
		if l, ok := s.lookup(h); ok {
			s.drop(h, l)
		}
		return nil, fmt.Errorf("blobfs: a stored chunk was damaged and is dropped: %w", fs.ErrNotExist)
	}
	return b, nil
}

// ReadChunk returns the chunk h in buf's storage when it fits in its
// capacity (a new buffer otherwise), so that a caller that reuses buffers
// allocates nothing per chunk, and refreshes its expiry. The bytes are
// checked against the CRC-32C of the record, not the SHA-256 address: the
// address was checked when the chunk was stored, and the CRC catches the
// disk's damage (docs/spec/attachments.md §5.2). A damaged record is
// dropped from the index; the error wraps fs.ErrNotExist then and when the
// chunk is not stored. A chunk file of the old layout is checked against
// its SHA-256.
func (s *Store) ReadChunk(ctx context.Context, h [32]byte, buf []byte) ([]byte, error) {
	l, ok := s.lookup(h)
	if !ok {
		if !s.legacy {
			return nil, fmt.Errorf("blobfs: reading a chunk: %w", fs.ErrNotExist)
		}
		return s.readLegacy(h, buf)
	}
	if int(l.n) > cap(buf) {
		buf = make([]byte, l.n)
	}
	b := buf[:l.n]
	for err := s.readPack(l.p, b, l.off); err != nil; err = s.readPack(l.p, b, l.off) {
		if l, ok = s.moved(h, l); !ok {
			return nil, fmt.Errorf("blobfs: reading a chunk: %w", err)
		}
	}
	if dataCRC(b) != l.crc {
		s.drop(h, l)
		return nil, fmt.Errorf("blobfs: a stored chunk was damaged and is dropped: %w", fs.ErrNotExist)
	}
	return b, nil
}

// moved returns where h is now if compaction moved it from l (whose pack
// file may be gone by the time it is read).
func (s *Store) moved(h [32]byte, l loc) (loc, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cur, ok := s.index[h]
	return cur, ok && (cur.p != l.p || cur.off != l.off)
}

// drop removes h from the index if it is still at l (its record there is
// damaged; a copy made meanwhile by compaction stays).
func (s *Store) drop(h [32]byte, l loc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.index[h]; ok && cur.p == l.p && cur.off == l.off {
		delete(s.index, h)
		l.p.chunks--
		l.p.bytes -= int64(l.n)
	}
}

// ExpireChunks removes the chunks not stored or asked for since before,
// and returns how many it removed and their bytes. A pack goes whole once
// its clock (the last time any of its chunks was stored or asked for) is
// before before, and a pack whose chunks still asked for are under a
// quarter of its bytes is compacted (compact.go): a chunk may outlive its
// own retention while others of its pack are still asked for, and never
// expires earlier.
func (s *Store) ExpireChunks(ctx context.Context, before time.Time) (n int, bytes int64, err error) {
	var gone []*pack
	s.w.Lock()
	s.mu.Lock()
	for seq, p := range s.packs {
		if p.clock.Load() >= before.UnixNano() {
			continue
		}
		if p == s.active {
			s.retire(p)
		}
		p.deleted = true
		delete(s.packs, seq)
		gone = append(gone, p)
		n += p.chunks
		bytes += p.bytes
	}
	if len(gone) > 0 { // a walk of the whole index, once per expiring pack's hour
		for h, l := range s.index {
			if l.p.deleted {
				delete(s.index, h)
			}
		}
	}
	s.mu.Unlock()
	s.w.Unlock()
	for _, p := range gone {
		s.forgetRead(p)
		if rerr := os.Remove(p.path); rerr != nil && err == nil {
			err = fmt.Errorf("blobfs: removing an expired pack: %w", rerr)
		}
	}
	cn, cbytes, cerr := s.compactPacks(ctx, before)
	fn, fbytes, ferr := s.expireFiles(ctx, before)
	for _, e := range []error{cerr, ferr} {
		if err == nil {
			err = e
		}
	}
	return n + cn + fn, bytes + cbytes + fbytes, err
}
