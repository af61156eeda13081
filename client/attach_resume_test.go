//go:build !js

package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/samizdat-project/samizdat/attach"
)

// TestUploadResumesAfterRestart: an upload stopped half way (the process
// died or the user gave up) resumes with the same key, so the chunks the
// server already holds are not sent again.
func TestUploadResumesAfterRestart(t *testing.T) {
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, data := writeRandomFile(t, "video.mp4", 10*attach.ChunkSize)
	ctx, cancel := context.WithCancel(context.Background())
	var first Progress
	err := alice.SendFile(ctx, "bob", path, "", &FileOptions{OnProgress: func(p Progress) {
		first = p
		if p.Done >= 4 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("SendFile went on after its context ended")
	}
	var second Progress
	sendFile(t, alice, "bob", path, "", &FileOptions{OnProgress: func(p Progress) { second = p }})
	if second.Sends > second.Total-first.Done {
		t.Fatalf("after %d of %d chunks were stored, the second attempt sent %d", first.Done, first.Total, second.Sends)
	}
	m := waitFile(t, bob)
	got, err := bob.Download(context.Background(), m.ID, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatal("the resumed file differs")
	}
}

// TestAdversaryNoNonceReuseWhenFileChanges: if the file changed between
// two attempts, the second must not seal new bytes under the first key
// (same key and index = same nonce): it starts over with a fresh key.
func TestAdversaryNoNonceReuseWhenFileChanges(t *testing.T) {
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, data := writeRandomFile(t, "notes.txt", 6*attach.ChunkSize)
	ctx, cancel := context.WithCancel(context.Background())
	alice.SendFile(ctx, "bob", path, "", &FileOptions{OnProgress: func(p Progress) {
		if p.Done >= 2 {
			cancel()
		}
	}})
	tx, _ := alice.store.begin(context.Background())
	var rec uploadRecord
	abs, _ := filepath.Abs(path)
	k := sha256.Sum256([]byte(abs))
	if !tx.get(uploadNS, k[:], &rec) {
		t.Fatal("the unfinished upload was not recorded")
	}
	tx.rollback()
	data[0] ^= 0xff
	os.WriteFile(path, data, 0o600)
	sendFile(t, alice, "bob", path, "", nil)
	m := waitFile(t, bob)
	_, _, a, err := bob.fileMessage(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key == rec.Key {
		t.Fatal("the changed file was sealed again under the first attempt's key: nonces reused")
	}
}

// interruptedUpload starts sending the file at path to bob, stops it once
// stopAt chunks are stored, and returns the record it left.
func interruptedUpload(t *testing.T, alice *Client, path string, stopAt int) uploadRecord {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sends := 0
	if err := alice.SendFile(ctx, "bob", path, "", &FileOptions{OnProgress: func(p Progress) {
		sends = p.Sends
		if p.Done >= stopAt {
			cancel()
		}
	}}); err == nil {
		t.Fatal("SendFile went on after its context ended")
	}
	tx, _ := alice.store.begin(context.Background())
	defer tx.rollback()
	var rec uploadRecord
	abs, _ := filepath.Abs(path)
	k := sha256.Sum256([]byte(abs))
	if !tx.get(uploadNS, k[:], &rec) {
		t.Fatal("the unfinished upload was not recorded")
	}
	// Write-ahead: every chunk sent (in index order on a fresh upload) has
	// its hash recorded.
	if got := len(rec.Hashes) / len(attach.Hash{}); got < sends {
		t.Fatalf("%d chunks were sent but only %d recorded", sends, got)
	}
	return rec
}

// sentKey sends the file at path from alice to bob and returns the key
// bob received, after checking that bob gets the file's current bytes.
func sentKey(t *testing.T, alice, bob *Client, path string, data []byte, n int) attach.Key {
	t.Helper()
	sendFile(t, alice, "bob", path, "", nil)
	id := nthFile(t, bob, n)
	_, _, a, err := bob.fileMessage(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bob.Download(context.Background(), id, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatal("bob received other bytes than the file's")
	}
	return a.Key
}

// TestAdversaryResumeComparesEveryRecordedChunk: an upload resumed after
// the file changed keeps its key only if the change is past every chunk
// whose hash was recorded (never sent under that key); a change in any
// recorded chunk, the first or the last, gets a fresh key.
func TestAdversaryResumeComparesEveryRecordedChunk(t *testing.T) {
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	const chunks = 8*sealBatch + 5 // far more than the sealing goroutine can get ahead of one stored chunk
	for n, c := range []struct {
		name    string
		at      func(recorded int) int // the chunk changed
		sameKey bool
	}{
		{"first recorded chunk", func(int) int { return 0 }, false},
		{"last recorded chunk", func(r int) int { return r - 1 }, false},
		{"first chunk never recorded", func(r int) int { return r }, true},
	} {
		path, data := writeRandomFile(t, fmt.Sprintf("f%d.bin", n), chunks*attach.ChunkSize)
		rec := interruptedUpload(t, alice, path, 1)
		r := len(rec.Hashes) / len(attach.Hash{})
		if r == 0 || r >= chunks {
			t.Fatalf("%s: %d of %d chunks recorded after one was stored; the test needs some recorded and some not", c.name, r, chunks)
		}
		data[c.at(r)*attach.ChunkSize] ^= 0xff
		os.WriteFile(path, data, 0o600)
		if key := sentKey(t, alice, bob, path, data, n+1); (key == rec.Key) != c.sameKey {
			t.Errorf("%s changed (%d recorded): key kept %v, want %v", c.name, r, key == rec.Key, c.sameKey)
		}
	}
}

// TestAdversaryOldUploadRecordNotResumed: a record of an unfinished upload
// written before the write-ahead record (a whole-file digest, no hashes)
// lists none of the chunks its key sealed: resuming it would seal changed
// bytes under that key. It gets a fresh key.
func TestAdversaryOldUploadRecordNotResumed(t *testing.T) {
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, data := writeRandomFile(t, "old.bin", 3*attach.ChunkSize)
	old := struct {
		Key    attach.Key `json:"key"`
		Digest [32]byte   `json:"digest"`
		Size   int64      `json:"size"`
	}{Key: attach.NewKey(), Digest: sha256.Sum256([]byte("the file before it changed")), Size: int64(len(data))}
	abs, _ := filepath.Abs(path)
	k := sha256.Sum256([]byte(abs))
	tx, _ := alice.store.begin(context.Background())
	tx.put(uploadNS, k[:], &old)
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
	if sentKey(t, alice, bob, path, data, 1) == old.Key {
		t.Fatal("an upload recorded by the old format was resumed under its key")
	}
}

// TestDownloadResumesFromPartFile: a download stopped half way resumes
// from the chunks in its .part file (each re-verified), and a .part file
// altered on disk meanwhile is caught: the altered chunk is fetched again.
func TestDownloadResumesFromPartFile(t *testing.T) {
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, data := writeRandomFile(t, "film.mkv", 10*attach.ChunkSize+5)
	sendFile(t, alice, "bob", path, "", nil)
	m := waitFile(t, bob)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var first Progress
	if _, err := bob.Download(ctx, m.ID, dir, &FileOptions{OnProgress: func(p Progress) {
		first = p
		if p.Done >= 5 {
			cancel()
		}
	}}); err == nil {
		t.Fatal("Download went on after its context ended")
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "film.mkv.*.part"))
	if len(parts) != 1 {
		t.Fatalf("part files: %v", parts)
	}
	f, _ := os.OpenFile(parts[0], os.O_RDWR, 0)
	f.WriteAt([]byte{^data[0]}, 0) // chunk 0 altered on disk
	f.Close()
	var second Progress
	got, err := bob.Download(context.Background(), m.ID, dir, &FileOptions{OnProgress: func(p Progress) { second = p }})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatal("the resumed download differs")
	}
	if second.Sends > second.Total-first.Done+1 {
		t.Fatalf("after %d of %d chunks, the resumed download asked for %d", first.Done, first.Total, second.Sends)
	}
	if _, err := os.Stat(parts[0]); err == nil {
		t.Fatal("the part file is left behind")
	}
}

// TestAdversaryNoChunkHandedOutBeforeItsRecord: the sealing pipeline
// (attach_ahead.go) records a batch's hashes on one goroutine while it
// seals the next on others; a chunk reaches the sender only once the
// record that lists it is committed (docs/spec/attachments.md §2.2). Each
// chunk, as the sender gets it, is already in the stored record.
func TestAdversaryNoChunkHandedOutBeforeItsRecord(t *testing.T) {
	link, _ := startFileServer(t)
	alice := newUser(t, link, "alice", nil)
	path, _ := writeRandomFile(t, "big.bin", 4*sealBatch*attach.ChunkSize+5)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	upKey := []byte("an upload")
	rec, _, _, err := alice.prepareUpload(ctx, f, 4*sealBatch*attach.ChunkSize+5, upKey)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attach.NewSealer(rec.Key, f, rec.Size)
	if err != nil {
		t.Fatal(err)
	}
	a := alice.startAhead(ctx, s, rec, upKey)
	defer a.close()
	for i := range s.Count() {
		_, h, err := a.chunk(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := alice.store.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got uploadRecord
		tx.get(uploadNS, upKey, &got)
		tx.rollback()
		if n := len(got.Hashes) / len(h); n <= i || !bytes.Equal(got.Hashes[i*len(h):(i+1)*len(h)], h[:]) {
			t.Fatalf("chunk %d was handed out for sending with %d hashes recorded", i, n)
		}
	}
}

// TestAheadBatchesNotUsedAfterHandOver runs the sealing pipeline as fast
// as a sender can take its chunks, so that every batch goes back to the
// sealer and is refilled while the next is recorded: each chunk must hash
// to its address when taken (a batch refilled while still handed out
// would not), and under -race no goroutine may touch a batch after
// passing it on (recordAll read a batch's error after handing it over
// until session 10; go test -race reported it).
func TestAheadBatchesNotUsedAfterHandOver(t *testing.T) {
	link, _ := startFileServer(t)
	alice := newUser(t, link, "alice", nil)
	size := int64(6*sealBatch*attach.ChunkSize + 5)
	path, _ := writeRandomFile(t, "big.bin", int(size))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	for n := range 3 {
		upKey := []byte(fmt.Sprint("upload ", n))
		rec, _, _, err := alice.prepareUpload(ctx, f, size, upKey)
		if err != nil {
			t.Fatal(err)
		}
		s, err := attach.NewSealer(rec.Key, f, size)
		if err != nil {
			t.Fatal(err)
		}
		a := alice.startAhead(ctx, s, rec, upKey)
		for i := range s.Count() {
			ct, h, err := a.chunk(ctx, i)
			if err != nil {
				a.close()
				t.Fatal(err)
			}
			if attach.HashOf(ct) != h {
				a.close()
				t.Fatalf("upload %d: chunk %d does not hash to its address when handed out", n, i)
			}
		}
		a.close()
	}
}
