//go:build !js

package client

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/attach"
)

// TestSendFileCatchUp: SendFile with CatchUp sends the file (the wait for
// a quiet inbox overlaps the upload), and a name that is no chat or
// contact fails before any chunk is uploaded.
func TestSendFileCatchUp(t *testing.T) {
	link, blobs := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	path, _ := writeRandomFile(t, "notes.txt", 2*attach.ChunkSize+7)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := alice.SendFile(ctx, "nobody", path, "", &FileOptions{CatchUp: 300 * time.Millisecond}); !errors.Is(err, ErrNoSuchContact) {
		t.Fatalf("SendFile to an unknown name: %v, want ErrNoSuchContact", err)
	}
	stored := 0
	filepath.WalkDir(blobs.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			stored++
		}
		return nil
	})
	if stored != 0 {
		t.Fatalf("a send to an unknown name stored %d chunks", stored)
	}

	sendFile(t, alice, "bob", path, "", &FileOptions{CatchUp: 300 * time.Millisecond})
	if m := waitFile(t, bob); m.File.Name != "notes.txt" {
		t.Fatalf("bob got %+v", m.File)
	}
}
