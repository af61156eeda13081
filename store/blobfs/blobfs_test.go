package blobfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPutGetHas(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("sealed chunk bytes")
	h := sha256.Sum256(data)
	if ok, _ := s.HasChunk(ctx, h); ok {
		t.Fatal("HasChunk before Put")
	}
	if _, err := s.GetChunk(ctx, h); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("GetChunk of a missing chunk: %v", err)
	}
	for range 2 { // idempotent
		if err := s.PutChunk(ctx, h, data); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := s.HasChunk(ctx, h); !ok {
		t.Fatal("HasChunk after Put")
	}
	got, err := s.GetChunk(ctx, h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetChunk = %q, %v", got, err)
	}
}

// TestAdversaryPutWrongHash: a client cannot store bytes under another
// chunk's address (and so cannot poison a chunk others will fetch).
func TestAdversaryPutWrongHash(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir(), nil)
	h := sha256.Sum256([]byte("the real chunk"))
	if err := s.PutChunk(ctx, h, []byte("poison")); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("PutChunk with a wrong hash: %v", err)
	}
	if ok, _ := s.HasChunk(ctx, h); ok {
		t.Fatal("the poisoned chunk was stored")
	}
}

// TestAdversaryCorruptOnDisk: bit rot (or a tampering operator) is caught
// when serving, not passed on.
func TestAdversaryCorruptOnDisk(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir(), nil)
	data := []byte("chunk")
	h := sha256.Sum256(data)
	s.PutChunk(ctx, h, data)
	damage(t, s.Dir(), h, 4)
	if _, err := s.GetChunk(ctx, h); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("GetChunk of a corrupt chunk: %v", err)
	}
}

func TestExpire(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s, _ := Open(t.TempDir(), func() time.Time { return now })
	old, fresh := []byte("old"), []byte("fresh")
	s.PutChunk(ctx, sha256.Sum256(old), old)
	now = now.Add(48 * time.Hour)
	s.PutChunk(ctx, sha256.Sum256(fresh), fresh)
	n, b, err := s.ExpireChunks(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 1 || b != 3 {
		t.Fatalf("ExpireChunks = %d, %d, %v; want 1 chunk of 3 bytes", n, b, err)
	}
	if ok, _ := s.HasChunk(ctx, sha256.Sum256(old)); ok {
		t.Fatal("the old chunk survived expiry")
	}
	if ok, _ := s.HasChunk(ctx, sha256.Sum256(fresh)); !ok {
		t.Fatal("the fresh chunk was expired")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "tmp")); err != nil {
		t.Fatal("expiry removed the tmp directory")
	}
}

// TestChunkParts: a chunk sent in parts is stored only when whole and
// matching its hash; a part at the wrong offset is not written and the
// answer says where to go on; the quota is charged once per partial copy.
func TestChunkParts(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("sealed chunk bytes "), 500)
	h := sha256.Sum256(data)
	size := int64(len(data))
	charges := 0
	charge := func() error { charges++; return nil }
	put := func(off, n int64) int64 {
		t.Helper()
		have, err := s.PutChunkPart(ctx, h, size, off, data[off:off+n], charge)
		if err != nil {
			t.Fatalf("part at %d: %v", off, err)
		}
		return have
	}
	if have := put(0, 4000); have != 4000 {
		t.Fatalf("have %d after the first part, want 4000", have)
	}
	if have := put(1000, 10); have != 4000 {
		t.Fatalf("a part behind the end: have %d, want 4000 (nothing written)", have)
	}
	if have := put(5000, 10); have != 4000 {
		t.Fatalf("a part past the end: have %d, want 4000", have)
	}
	if ok, _ := s.HasChunk(ctx, h); ok {
		t.Fatal("a partial chunk is served as stored")
	}
	if have := put(4000, size-4000); have != size {
		t.Fatalf("have %d after the last part, want %d", have, size)
	}
	got, err := s.GetChunk(ctx, h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetChunk after parts: %v", err)
	}
	if charges != 1 {
		t.Fatalf("charged %d times, want once", charges)
	}
	if _, err := os.Stat(s.partPath(h)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the partial copy is still there once the chunk is stored: %v", err)
	}
	if locs, _ := Locate(s.Dir()); len(locs) != 1 || filepath.Base(filepath.Dir(locs[0].Path)) != packsDir {
		t.Fatalf("the chunk stored from parts is at %+v, want one record in a pack", locs)
	}
	part, err := s.ReadChunkAt(ctx, h, size-10, 100)
	if err != nil || !bytes.Equal(part, data[size-10:]) {
		t.Fatalf("ReadChunkAt at the end = %d bytes, %v", len(part), err)
	}
	// Bytes that do not hash to the address are dropped when complete.
	bad := sha256.Sum256([]byte("another chunk"))
	if _, err := s.PutChunkPart(ctx, bad, 5, 0, []byte("12345"), charge); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("a complete partial chunk of wrong bytes: %v, want ErrHashMismatch", err)
	}
	if ok, _ := s.HasChunk(ctx, bad); ok {
		t.Fatal("wrong bytes were stored")
	}
	if have, _ := s.PutChunkPart(ctx, bad, 5, 0, nil, charge); have != 0 {
		t.Fatalf("the wrong partial copy was kept: have %d", have)
	}
}

// TestReadChunkIntoBuffer: ReadChunk reads into the caller's buffer when
// the chunk fits (a new one otherwise) and checks the bytes' CRC-32C: a
// chunk damaged on disk, or cut short, is refused and dropped, and can be
// stored again. PutCheckedChunk stores what it is given.
func TestReadChunkIntoBuffer(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir(), nil)
	data := bytes.Repeat([]byte("sealed "), 1000)
	h := sha256.Sum256(data)
	if err := s.PutCheckedChunk(ctx, h, data); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 1<<14)
	got, err := s.ReadChunk(ctx, h, buf)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadChunk = %d bytes, %v", len(got), err)
	}
	if &got[0] != &buf[:1][0] {
		t.Fatal("ReadChunk did not use the buffer it was given")
	}
	if got, err := s.ReadChunk(ctx, h, make([]byte, 0, 10)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadChunk with a small buffer = %d bytes, %v", len(got), err)
	}
	for _, at := range []int64{int64(len(data)) - 1, 0} {
		damage(t, s.Dir(), h, at)
		if _, err := s.ReadChunk(ctx, h, buf); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ReadChunk of a chunk damaged at byte %d: %v", at, err)
		}
		if ok, _ := s.HasChunk(ctx, h); ok {
			t.Fatal("a damaged chunk was kept")
		}
		if err := s.PutChunk(ctx, h, data); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ReadChunk(ctx, h, buf); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadChunk of the chunk stored again = %d bytes, %v", len(got), err)
		}
	}
	// A pack cut short under a running store (an operator's mistake).
	locs, _ := Locate(s.Dir())
	if err := os.Truncate(locs[len(locs)-1].Path, locs[len(locs)-1].Offset+10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadChunk(ctx, h, buf); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadChunk of a chunk cut short: %v", err)
	}
}

// damage flips a bit of the byte at offset at of chunk h's data on disk.
func damage(t *testing.T, dir string, h [32]byte, at int64) {
	t.Helper()
	locs, err := Locate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(locs) - 1; i >= 0; i-- { // the latest copy
		if l := locs[i]; l.Hash == h {
			if err := l.FlipBit(at); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("chunk %x is nowhere on disk", h[:4])
}

// flipByte flips a bit of the byte at off of the file at path.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	if err := (Location{Path: path, Size: off + 1}).FlipBit(off); err != nil {
		t.Fatal(err)
	}
}
