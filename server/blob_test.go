package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/blobfs"
	"github.com/samizdat-project/samizdat/wire"
)

func startBlobServer(t testing.TB, quota server.BlobQuota) (*testServer, string) {
	dir := filepath.Join(t.TempDir(), "blobs")
	bs, err := blobfs.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *server.Config) { c.Blobs = bs; c.BlobQuota = quota })
	return ts, dir
}

func TestBlobPutHasGet(t *testing.T) {
	ts, _ := startBlobServer(t, nil)
	c := connect(t, ts, newIdentity(newAccount()))
	data := bytes.Repeat([]byte("ciphertext"), 1000)
	h := wire.ChunkHash(sha256.Sum256(data))
	other := wire.ChunkHash(sha256.Sum256([]byte("other")))
	held := c.must(&wire.HasChunks{Hashes: []wire.ChunkHash{h, other}}, wire.TypeChunksHeld).(*wire.ChunksHeld)
	if held.Held[0] || held.Held[1] {
		t.Fatalf("HasChunks before any Put = %v", held.Held)
	}
	c.wantError(&wire.GetChunk{Hash: h}, wire.CodeNotFound)
	c.must(&wire.PutChunk{Hash: h, Data: data}, wire.TypeChunkStored)
	c.must(&wire.PutChunk{Hash: h, Data: data}, wire.TypeChunkStored) // idempotent
	held = c.must(&wire.HasChunks{Hashes: []wire.ChunkHash{h, other}}, wire.TypeChunksHeld).(*wire.ChunksHeld)
	if !held.Held[0] || held.Held[1] {
		t.Fatalf("HasChunks after Put = %v", held.Held)
	}
	// Another account fetches it by hash (a recipient of the file).
	c2 := connect(t, ts, newIdentity(newAccount()))
	got := c2.must(&wire.GetChunk{Hash: h}, wire.TypeChunk).(*wire.Chunk)
	if !bytes.Equal(got.Data, data) {
		t.Fatal("GetChunk returned other bytes")
	}
}

// TestAdversaryBlobWrongHash: a client cannot store bytes under the
// address of a chunk someone else will fetch.
func TestAdversaryBlobWrongHash(t *testing.T) {
	ts, dir := startBlobServer(t, nil)
	c := connect(t, ts, newIdentity(newAccount()))
	h := wire.ChunkHash(sha256.Sum256([]byte("the real chunk")))
	c.wantError(&wire.PutChunk{Hash: h, Data: []byte("poison")}, wire.CodeBadRequest)
	c.wantError(&wire.GetChunk{Hash: h}, wire.CodeNotFound)
	if held, err := blobfs.Locate(dir); err != nil || len(held) != 0 {
		t.Fatalf("a refused chunk left %d chunks in the blob directory (%v)", len(held), err)
	}
}

// TestAdversaryBlobUnregistered: blobs are for registered devices only.
func TestAdversaryBlobUnregistered(t *testing.T) {
	ts, _ := startBlobServer(t, nil)
	c := dial(t, ts, newIdentity(newAccount()))
	c.hello()
	data := []byte("x")
	c.wantError(&wire.PutChunk{Hash: sha256.Sum256(data), Data: data}, wire.CodeUnauthorized)
}

type denyQuota struct{ charged int64 }

func (q *denyQuota) ChargeBlob(_ context.Context, _ store.AccountID, n int64) error {
	if q.charged+n > 100 {
		return errors.New("over")
	}
	q.charged += n
	return nil
}

// TestBlobQuota: the quota hook is asked for new chunks only, and its
// refusal reaches the client as QuotaExceeded with nothing stored.
func TestBlobQuota(t *testing.T) {
	q := &denyQuota{}
	ts, _ := startBlobServer(t, q)
	c := connect(t, ts, newIdentity(newAccount()))
	small := bytes.Repeat([]byte{1}, 60)
	c.must(&wire.PutChunk{Hash: sha256.Sum256(small), Data: small}, wire.TypeChunkStored)
	c.must(&wire.PutChunk{Hash: sha256.Sum256(small), Data: small}, wire.TypeChunkStored) // not charged twice
	if q.charged != 60 {
		t.Fatalf("charged %d bytes, want 60", q.charged)
	}
	big := bytes.Repeat([]byte{2}, 60)
	c.wantError(&wire.PutChunk{Hash: sha256.Sum256(big), Data: big}, wire.CodeQuotaExceeded)
	held := c.must(&wire.HasChunks{Hashes: []wire.ChunkHash{sha256.Sum256(big)}}, wire.TypeChunksHeld).(*wire.ChunksHeld)
	if held.Held[0] {
		t.Fatal("a chunk over quota was stored")
	}
}

func TestBlobDisabled(t *testing.T) {
	ts := startServer(t, nil)
	c := connect(t, ts, newIdentity(newAccount()))
	c.wantError(&wire.GetChunk{Hash: sha256.Sum256([]byte("x"))}, wire.CodeNotFound)
}

// onDisk reports whether chunk h is in the blob store at dir.
func onDisk(t *testing.T, dir string, h [32]byte) bool {
	t.Helper()
	held, err := blobfs.Locate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range held {
		if l.Hash == h {
			return true
		}
	}
	return false
}

// TestBlobExpiry: the janitor deletes chunks not stored or asked for
// within the retention; a chunk asked for (HasChunks) stays. blobfs
// expires a pack file whole, and a pack takes chunks for PackAge: here
// 100 ms, and the two chunks are stored 150 ms apart, in two packs.
func TestBlobExpiry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	bs, err := blobfs.OpenWith(dir, blobfs.Options{PackAge: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *server.Config) {
		c.Blobs, c.BlobRetention, c.JanitorInterval = bs, 300*time.Millisecond, 50*time.Millisecond
	})
	c := connect(t, ts, newIdentity(newAccount()))
	old, kept := []byte("old chunk"), []byte("kept chunk")
	c.must(&wire.PutChunk{Hash: sha256.Sum256(old), Data: old}, wire.TypeChunkStored)
	time.Sleep(150 * time.Millisecond)
	c.must(&wire.PutChunk{Hash: sha256.Sum256(kept), Data: kept}, wire.TypeChunkStored)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		held := c.must(&wire.HasChunks{Hashes: []wire.ChunkHash{sha256.Sum256(kept)}}, wire.TypeChunksHeld).(*wire.ChunksHeld)
		if !held.Held[0] {
			t.Fatal("a chunk asked for every 100 ms expired")
		}
		if !onDisk(t, dir, sha256.Sum256(old)) { // not GetChunk: that is asking for it
			return // expired, as it should
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("a chunk nobody asked for outlived its retention")
}

// TestGetChunkAheadInOrder: a session's GetChunks, pipelined, are answered
// in the order asked, each with its own chunk's bytes, while answers are
// read ahead into pooled buffers (blob_ahead.go); an answer of an error
// and a request of another kind keep their places. Two sessions fetch at
// once, so a buffer given back before its answer was sent would carry
// another chunk's bytes (and -race would see the write).
func TestGetChunkAheadInOrder(t *testing.T) {
	ts, _ := startBlobServer(t, nil)
	owner := connect(t, ts, newIdentity(newAccount()))
	var chunks [][]byte
	for i := range 16 {
		data := make([]byte, 96<<10+i*1000)
		for j := range data {
			data[j] = byte(i*7 + j*13)
		}
		owner.must(&wire.PutChunk{Hash: sha256.Sum256(data), Data: data}, wire.TypeChunkStored)
		chunks = append(chunks, data)
	}
	missing := wire.ChunkHash(sha256.Sum256([]byte("never stored")))
	const asks = 96
	fetch := func(c *client) error {
		for k := range asks {
			var m wire.Message = &wire.GetChunk{Hash: sha256.Sum256(chunks[k%len(chunks)])}
			switch k % 24 {
			case 5:
				m = &wire.GetChunk{Hash: missing}
			case 17:
				m = &wire.Ping{}
			}
			b, err := wire.Encode(wire.Frame{RequestID: uint32(k + 1), Msg: m})
			if err != nil {
				return err
			}
			if err := c.sc.Send(b); err != nil {
				return err
			}
		}
		for k := range asks {
			var f wire.Frame
			select {
			case f = <-c.frames:
			case <-time.After(15 * time.Second):
				return fmt.Errorf("no answer %d within 15s", k+1)
			}
			if f.RequestID != uint32(k+1) {
				return fmt.Errorf("answer %d came for request %d: out of order", k+1, f.RequestID)
			}
			switch m := f.Msg.(type) {
			case *wire.Chunk:
				if k%24 == 5 || k%24 == 17 || !bytes.Equal(m.Data, chunks[k%len(chunks)]) {
					return fmt.Errorf("answer %d carries other bytes than its chunk", k+1)
				}
			case *wire.Error:
				if k%24 != 5 || m.Code != wire.CodeNotFound {
					return fmt.Errorf("answer %d is %v", k+1, m)
				}
			case *wire.Pong:
				if k%24 != 17 {
					return fmt.Errorf("answer %d is a Pong", k+1)
				}
			default:
				return fmt.Errorf("answer %d is a %v", k+1, f.Msg.Type())
			}
		}
		return nil
	}
	a, b := connect(t, ts, newIdentity(newAccount())), connect(t, ts, newIdentity(newAccount()))
	errs := make(chan error, 2)
	go func() { errs <- fetch(a) }()
	go func() { errs <- fetch(b) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
