package blobfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chunkN is a test chunk: n bytes that differ for each i.
func chunkN(i, n int) ([]byte, [32]byte) {
	b := bytes.Repeat([]byte{byte(i), byte(i >> 8), 0x5a}, n/3+1)[:n]
	binary.BigEndian.PutUint32(b, uint32(i))
	return b, sha256.Sum256(b)
}

func mustOpen(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	s, err := OpenWith(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t testing.TB, s *Store, data []byte) [32]byte {
	t.Helper()
	h := sha256.Sum256(data)
	if err := s.PutChunk(context.Background(), h, data); err != nil {
		t.Fatal(err)
	}
	return h
}

// wantChunk fails unless s serves exactly data for h.
func wantChunk(t testing.TB, s *Store, h [32]byte, data []byte) {
	t.Helper()
	got, err := s.ReadChunk(context.Background(), h, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("chunk %x: %d bytes, %v; want its %d bytes", h[:4], len(got), err, len(data))
	}
}

func wantGone(t testing.TB, s *Store, h [32]byte) {
	t.Helper()
	if _, err := s.ReadChunk(context.Background(), h, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("chunk %x: %v, want not found", h[:4], err)
	}
	if ok, _ := s.HasChunk(context.Background(), h); ok {
		t.Fatalf("chunk %x is held", h[:4])
	}
}

func onlyPack(t testing.TB, dir string) string {
	t.Helper()
	ps, _ := filepath.Glob(filepath.Join(dir, packsDir, "*.pack"))
	if len(ps) != 1 {
		t.Fatalf("%d pack files, want 1", len(ps))
	}
	return ps[0]
}

// TestAdversaryTornTail: a crash in the middle of writing a record (a
// short header, a header without all its data, garbage) leaves a torn
// tail. Reopened, the store serves every acknowledged chunk, not the torn
// one, cuts the file at the last whole record and takes new chunks.
func TestAdversaryTornTail(t *testing.T) {
	torn, tornHash := chunkN(99, 5000)
	var hdr [headerSize]byte
	encodeHeader(hdr[:], record{hash: tornHash, n: uint32(len(torn)), crc: dataCRC(torn)})
	tails := map[string][]byte{
		"short header":       hdr[:20],
		"header, short data": append(hdr[:], torn[:4000]...),
		"garbage":            []byte("\x00\x00\x00\x00 not a record at all, written by no one"),
		"bad header crc":     append(append(bytes.Clone(hdr[:44]), 0, 0, 0, 0), torn...),
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, Options{})
			var acked [][]byte
			for i := range 5 {
				d, _ := chunkN(i, 3000+i)
				mustPut(t, s, d)
				acked = append(acked, d)
			}
			s.Close()
			p := onlyPack(t, dir)
			st, _ := os.Stat(p)
			whole := st.Size()
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(tail)
			f.Close()

			s = mustOpen(t, dir, Options{})
			for _, d := range acked {
				wantChunk(t, s, sha256.Sum256(d), d)
			}
			wantGone(t, s, tornHash)
			if st, _ := os.Stat(p); st.Size() != whole {
				t.Fatalf("the torn pack is %d bytes after Open, want %d (its whole records)", st.Size(), whole)
			}
			more, _ := chunkN(7, 4000)
			mustPut(t, s, more)
			s.Close()
			s = mustOpen(t, dir, Options{})
			for _, d := range append(acked, more) {
				wantChunk(t, s, sha256.Sum256(d), d)
			}
		})
	}
}

// TestConcurrentPutsReopen: 64 goroutines storing at once (group commit
// shares their fdatasyncs) all read back byte-identical after a reopen.
func TestConcurrentPutsReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	chunks := make([][]byte, 64)
	var wg sync.WaitGroup
	for i := range chunks {
		chunks[i], _ = chunkN(i, 20000+i)
		wg.Go(func() {
			if err := s.PutChunk(context.Background(), sha256.Sum256(chunks[i]), chunks[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s.Close()
	s = mustOpen(t, dir, Options{})
	for _, d := range chunks {
		wantChunk(t, s, sha256.Sum256(d), d)
	}
	if locs, _ := Locate(dir); len(locs) != len(chunks) {
		t.Fatalf("%d records on disk for %d chunks", len(locs), len(chunks))
	}
}

// TestAdversaryFlippedHeaderByte: a flipped bit in any byte of a record's
// header never crashes Open and never gets wrong bytes served; the chunk
// of that record is lost, the records after it are found again.
func TestAdversaryFlippedHeaderByte(t *testing.T) {
	for at := range int64(headerSize) {
		dir := t.TempDir()
		s := mustOpen(t, dir, Options{})
		var data [][]byte
		for i := range 3 {
			d, _ := chunkN(i, 1000)
			mustPut(t, s, d)
			data = append(data, d)
		}
		s.Close()
		flipByte(t, onlyPack(t, dir), headerSize+1000+at) // the second record's header
		s = mustOpen(t, dir, Options{})
		wantChunk(t, s, sha256.Sum256(data[0]), data[0])
		wantGone(t, s, sha256.Sum256(data[1]))
		wantChunk(t, s, sha256.Sum256(data[2]), data[2])
	}
}

// TestAdversaryFakeRecordInChunk: a client uploads a chunk whose bytes
// hold a well-formed record (valid CRCs) naming a victim's address with
// other bytes. If the header of that chunk's record is damaged, Open looks
// for the next record and finds the fake first; it must not serve the
// fake as the victim's chunk (records found after damage are checked
// against their SHA-256 address).
func TestAdversaryFakeRecordInChunk(t *testing.T) {
	victim, victimHash := chunkN(1, 2000)
	fake := bytes.Repeat([]byte("not the victim's bytes "), 100)[:2000]
	var hdr [headerSize]byte
	encodeHeader(hdr[:], record{hash: victimHash, n: uint32(len(fake)), crc: dataCRC(fake)})
	evil := append(append([]byte("padding before the fake record "), hdr[:]...), fake...)

	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	mustPut(t, s, evil)
	after, _ := chunkN(2, 1500)
	mustPut(t, s, after)
	s.Close()
	s = mustOpen(t, dir, Options{}) // undamaged: the scan skips the evil chunk's data by its length
	wantGone(t, s, victimHash)
	s.Close()
	flipByte(t, onlyPack(t, dir), 5) // the evil chunk's own header
	s = mustOpen(t, dir, Options{})
	if got, err := s.ReadChunk(context.Background(), victimHash, nil); err == nil {
		t.Fatalf("served %d bytes as the victim's chunk (the fake: %v)", len(got), bytes.Equal(got, fake))
	}
	wantChunk(t, s, sha256.Sum256(after), after)
	mustPut(t, s, victim)
	wantChunk(t, s, victimHash, victim)
}

// TestAdversaryDamagedDataKeepsServing: a flipped byte in a record's data
// is refused (not found) and the store goes on serving the others and
// taking chunks, also after a reopen.
func TestAdversaryDamagedDataKeepsServing(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	a, _ := chunkN(1, 4000)
	b, _ := chunkN(2, 4000)
	ha, hb := mustPut(t, s, a), mustPut(t, s, b)
	damage(t, dir, ha, 2000)
	wantGone(t, s, ha)
	wantChunk(t, s, hb, b)
	s.Close()
	s = mustOpen(t, dir, Options{})
	if _, err := s.ReadChunkAt(context.Background(), hb, 10, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetChunk(context.Background(), ha); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("GetChunk of a damaged chunk after reopen: %v", err)
	}
	mustPut(t, s, a)
	wantChunk(t, s, ha, a)
	s.Close()
	s = mustOpen(t, dir, Options{}) // the damaged first copy is still on disk
	wantChunk(t, s, ha, a)
}

// TestPackRotationAndExpiry: a pack takes records until it is PackBytes
// big or PackAge old; a pack expires whole, once the last time any of its
// chunks was stored or asked for is before the cutoff, so a chunk asked
// for keeps its pack-mates, and one in another pack expires.
func TestPackRotationAndExpiry(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Now: func() time.Time { return now }, PackBytes: 10_000})
	a, _ := chunkN(1, 4000)
	b, _ := chunkN(2, 4000)
	c, _ := chunkN(3, 4000) // over 10,000 bytes with a and b: a new pack
	ha, hb, hc := mustPut(t, s, a), mustPut(t, s, b), mustPut(t, s, c)
	if ps, _ := filepath.Glob(filepath.Join(dir, packsDir, "*.pack")); len(ps) != 2 {
		t.Fatalf("%d packs after 12,144 bytes with PackBytes 10,000, want 2", len(ps))
	}
	now = now.Add(30 * time.Minute)
	d, _ := chunkN(4, 100)
	hd := mustPut(t, s, d) // c's pack: not an hour old
	now = now.Add(10 * time.Minute)
	s.HasChunk(ctx, hb) // keeps a's pack too
	now = now.Add(35 * time.Minute)
	e, _ := chunkN(5, 100)
	he := mustPut(t, s, e) // c's pack is over an hour old: a third pack
	n, bytes, err := s.ExpireChunks(ctx, now.Add(-40*time.Minute))
	if err != nil || n != 2 || bytes != 4000+100 {
		t.Fatalf("ExpireChunks = %d, %d, %v; want c and d's pack (2 chunks, 4100 bytes)", n, bytes, err)
	}
	wantGone(t, s, hc)
	wantGone(t, s, hd)
	for h, want := range map[[32]byte][]byte{ha: a, hb: b, he: e} {
		wantChunk(t, s, h, want)
	}
	if n, _, _ := s.ExpireChunks(ctx, now); n != 0 {
		t.Fatalf("expired %d chunks asked for just now", n)
	}
	if n, _, _ := s.ExpireChunks(ctx, now.Add(time.Second)); n != 3 {
		t.Fatalf("expired %d chunks, want every one (3) past their last use", n)
	}
	mustPut(t, s, e) // the active pack went: a new one is started
	wantChunk(t, s, he, e)
}

// TestPackClockSurvivesReopen: a pack's clock is kept as its mtime (at
// most once a minute), and at Open it is that mtime plus a minute, so that
// a chunk asked for before a restart does not expire before its retention.
func TestPackClockSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Now: clock})
	a, _ := chunkN(1, 100)
	ha := mustPut(t, s, a)
	s.Close()
	for range 10 { // 5 minutes of asking, every 30 s
		now = now.Add(30 * time.Second)
		s.HasChunk(ctx, ha)
	}
	last := now
	st, _ := os.Stat(onlyPack(t, dir))
	if got := st.ModTime(); got.Before(last.Add(-persistEvery)) || got.After(last) {
		t.Fatalf("the pack's mtime is %v, want within a minute before %v", got, last)
	}
	s = mustOpen(t, dir, Options{Now: clock})
	if n, _, _ := s.ExpireChunks(ctx, last); n != 0 {
		t.Fatal("a chunk asked for just before a restart expired at once after it")
	}
	if n, _, _ := s.ExpireChunks(ctx, last.Add(persistEvery+time.Second)); n != 1 {
		t.Fatalf("expired %d chunks a minute after the clock kept, want 1", n)
	}
}

// TestLegacyChunkFiles: chunk files of the one-file-per-chunk layout are
// found, served (checked against SHA-256), refreshed and expired; a
// damaged one is removed; new chunks go to packs.
func TestLegacyChunkFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	old := func(i int) ([]byte, [32]byte) {
		d, h := chunkN(i, 3000)
		p := filepath.Join(dir, fmt.Sprintf("%x", h[:1]), fmt.Sprintf("%x", h))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, d, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, now, now)
		return d, h
	}
	a, ha := old(1)
	b, hb := old(2)
	_, hc := old(3)
	s := mustOpen(t, dir, Options{Now: func() time.Time { return now }})
	wantChunk(t, s, ha, a)
	if got, err := s.GetChunk(ctx, hb); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("GetChunk of a chunk file: %v", err)
	}
	if part, err := s.ReadChunkAt(ctx, ha, 2990, 100); err != nil || !bytes.Equal(part, a[2990:]) {
		t.Fatalf("ReadChunkAt of a chunk file: %d bytes, %v", len(part), err)
	}
	if err := s.PutChunk(ctx, ha, a); err != nil { // held: refreshed, not written again
		t.Fatal(err)
	}
	if locs, _ := Locate(dir); len(locs) != 3 {
		t.Fatalf("%d chunks on disk after storing a held one, want the 3 files", len(locs))
	}
	flipByte(t, s.path(hc), 10)
	wantGone(t, s, hc)
	now = now.Add(2 * time.Hour)
	s.HasChunk(ctx, hb)
	n, _, err := s.ExpireChunks(ctx, now.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("ExpireChunks = %d, %v; want the one file not asked for", n, err)
	}
	wantGone(t, s, ha)
	wantChunk(t, s, hb, b)
}

// FuzzPackRecord: Open on any pack file bytes never panics, and what it
// serves always matches the CRC-32C and length of a whole record; the
// store takes a new chunk afterwards.
func FuzzPackRecord(f *testing.F) {
	d, h := chunkN(1, 300)
	var hdr [headerSize]byte
	encodeHeader(hdr[:], record{hash: h, n: uint32(len(d)), crc: dataCRC(d)})
	rec := append(hdr[:], d...)
	f.Add(rec)
	f.Add(append(bytes.Clone(rec), rec[:60]...))
	f.Add(append([]byte("junk"), rec...))
	f.Add(rec[:47])
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, packsDir), 0o700)
		if err := os.WriteFile(filepath.Join(dir, packsDir, packName(1)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenWith(dir, Options{})
		if err != nil {
			t.Fatalf("Open of a damaged pack: %v", err)
		}
		defer s.Close()
		for h, l := range s.index {
			got, err := s.ReadChunk(context.Background(), h, nil)
			if err != nil {
				continue
			}
			if dataCRC(got) != l.crc || len(got) != int(l.n) {
				t.Fatalf("served %d bytes that do not match their record", len(got))
			}
		}
		more, _ := chunkN(2, 100)
		mustPut(t, s, more)
		wantChunk(t, s, sha256.Sum256(more), more)
	})
}

// TestSyncFailureNotAcknowledged: when an fdatasync fails (a disk error),
// the chunk it was to cover is refused, not held, and the store goes on in
// a new pack file (Linux may mark the lost pages clean, so a later sync of
// the same file could succeed without them).
func TestSyncFailureNotAcknowledged(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	a, _ := chunkN(1, 1000)
	ha := mustPut(t, s, a)
	b, hb := chunkN(2, 1000)
	syncFile = func(*os.File) error { return errors.New("EIO") }
	err := s.PutChunk(context.Background(), hb, b)
	syncFile = fdatasync
	if err == nil {
		t.Fatal("PutChunk acknowledged a chunk whose sync failed")
	}
	if ok, _ := s.HasChunk(context.Background(), hb); ok {
		t.Fatal("a chunk whose sync failed is held")
	}
	mustPut(t, s, b)
	if ps, _ := filepath.Glob(filepath.Join(dir, packsDir, "*.pack")); len(ps) != 2 {
		t.Fatalf("%d pack files after a failed sync, want 2 (the store moves on to a new one)", len(ps))
	}
	wantChunk(t, s, ha, a)
	wantChunk(t, s, hb, b)
}

// TestAdversaryOneChunkKeepsPack: a client that uploads a chunk and keeps
// asking for it would keep its whole pack, other users' chunks of the same
// hour with it, past their retention. Expiry compacts such a pack: the
// chunk asked for is copied to the active pack, the others are deleted
// with the old pack file, which is no longer held open for reads either.
func TestAdversaryOneChunkKeepsPack(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Now: func() time.Time { return now }})
	kept, hk := chunkN(0, 1000)
	mustPut(t, s, kept)
	var others [][32]byte
	for i := 1; i <= 4; i++ {
		d, h := chunkN(i, 1000)
		others = append(others, mustPut(t, s, d))
		wantChunk(t, s, h, d) // read: the pack is open for reads (readfiles.go)
	}
	first := onlyPack(t, dir)
	now = now.Add(2 * time.Hour)
	later, hl := chunkN(9, 1000)
	mustPut(t, s, later) // a second pack, the active one
	for range 10 {
		now = now.Add(3 * time.Hour)
		s.HasChunk(ctx, hk)
		s.HasChunk(ctx, hl)
	}
	n, bytes, err := s.ExpireChunks(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 4 || bytes != 4000 {
		t.Fatalf("ExpireChunks = %d, %d, %v; want the 4 chunks past their retention (4000 bytes) deleted", n, bytes, err)
	}
	for _, h := range others {
		wantGone(t, s, h)
	}
	if _, err := os.Stat(first); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the compacted pack is still on disk: %v", err)
	}
	for _, f := range openPacks(t, dir) {
		if strings.HasPrefix(f, first) {
			t.Fatalf("the compacted pack %s is still open", f)
		}
	}
	wantChunk(t, s, hk, kept)
	wantChunk(t, s, hl, later) // in the active pack, which is not compacted
	s.Close()
	s = mustOpen(t, dir, Options{Now: func() time.Time { return now }})
	wantChunk(t, s, hk, kept)
	if locs, _ := Locate(dir); len(locs) != 2 {
		t.Fatalf("%d chunks on disk after compaction and reopen, want 2", len(locs))
	}
}

// TestCompactionWhileServing: chunks being read while their pack is
// compacted are served byte-identical throughout and after a reopen.
func TestCompactionWhileServing(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Unix(1_800_000_000, 0).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Now: now})
	data := map[[32]byte][]byte{}
	var live [][32]byte
	for i := range 20 {
		d, h := chunkN(i, 2000)
		mustPut(t, s, d)
		if data[h] = d; i%7 == 0 {
			live = append(live, h) // 3 of 20
		}
	}
	clock.Add(int64(2 * time.Hour))
	d, h := chunkN(99, 2000)
	mustPut(t, s, d)
	data[h], live = d, append(live, h)
	clock.Add(int64(30 * time.Hour))
	for _, h := range live {
		s.HasChunk(ctx, h)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, h := range live {
					if got, err := s.ReadChunk(ctx, h, nil); err != nil || !bytes.Equal(got, data[h]) {
						t.Errorf("chunk %x during compaction: %d bytes, %v", h[:4], len(got), err)
						return
					}
					if got, err := s.ReadChunkAt(ctx, h, 100, 50); err != nil || !bytes.Equal(got, data[h][100:150]) {
						t.Errorf("part of chunk %x during compaction: %d bytes, %v", h[:4], len(got), err)
						return
					}
				}
			}
		})
	}
	n, _, err := s.ExpireChunks(ctx, now().Add(-24*time.Hour))
	close(stop)
	wg.Wait()
	if err != nil || n != 17 {
		t.Fatalf("ExpireChunks = %d, %v; want the 17 chunks not asked for", n, err)
	}
	s.Close()
	s = mustOpen(t, dir, Options{Now: now})
	for _, h := range live {
		wantChunk(t, s, h, data[h])
	}
}
