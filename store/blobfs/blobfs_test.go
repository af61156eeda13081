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
	os.WriteFile(s.path(h), []byte("chunK"), 0o600)
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
