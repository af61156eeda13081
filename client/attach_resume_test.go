//go:build !js

package client

import (
	"bytes"
	"context"
	"crypto/sha256"
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
