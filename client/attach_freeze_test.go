//go:build !js

package client

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store/blobfs"
)

// TestAdversaryFileUnderFreeze: issue 16's "the same file to a foreign
// relay under the 15-20 KB freeze completes". Alice's only path freezes
// every connection after 16 KB from the server (the 2025 freeze of TLS to
// foreign data centres; freezeProxy) with no reset; bob reaches the server
// directly. A 5 MB file goes up from alice and comes down to bob, and then
// from bob down to alice through the freezing path; both copies must be
// byte for byte the file (docs/spec/attachments.md §5, "Byte budgets").
func TestAdversaryFileUnderFreeze(t *testing.T) {
	if testing.Short() {
		t.Skip("a 5 MB transfer over hundreds of 16 KB connections")
	}
	bs, err := blobfs.Open(filepath.Join(t.TempDir(), "blobs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob, p, _ := freezeSetupBlobs(t, freezeBudget, 0, bs)
	path, data := writeRandomFile(t, "lecture.ogg", 5_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	start := time.Now()
	var up Progress
	if err := alice.SendFile(ctx, "bob", path, "", &FileOptions{OnProgress: func(pr Progress) { up = pr }}); err != nil {
		t.Fatalf("alice uploading under the freeze: %v", err)
	}
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("alice Flush: %v", err)
	}
	upTime := time.Since(start)
	upConns, upFroze, _ := p.counts()
	got, err := bob.Download(ctx, waitFile(t, bob).ID, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("bob downloading alice's upload: %v", err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatal("bob's copy of alice's upload differs")
	}

	sendFile(t, bob, "alice", path, "", nil)
	start = time.Now()
	var down Progress
	got, err = alice.Download(ctx, waitFile(t, alice).ID, t.TempDir(), &FileOptions{OnProgress: func(pr Progress) { down = pr }})
	if err != nil {
		t.Fatalf("alice downloading under the freeze: %v (%+v)", err, down)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
		t.Fatal("alice's download differs")
	}
	conns, froze, _ := p.counts()
	t.Logf("upload %v over %d connections (%d froze, %+v); download %v over %d connections (%d froze, %+v)",
		upTime.Round(time.Millisecond), len(upConns), len(upFroze), up,
		time.Since(start).Round(time.Millisecond), len(conns)-len(upConns), len(froze)-len(upFroze), down)
	if len(froze) == 0 {
		t.Fatal("no connection froze: the test proves nothing")
	}

	// Now that alice knows the path's budget, her uploads go in parts too
	// (sized to the bytes both ways), and no connection may freeze.
	path2, data2 := writeRandomFile(t, "second.ogg", 2_000_000)
	start = time.Now()
	sendFile(t, alice, "bob", path2, "", nil)
	conns2, froze2, _ := p.counts()
	if n := len(froze2) - len(froze); n > 0 {
		t.Errorf("%d connections froze during an upload with the budget known; want none", n)
	}
	if len(conns2)-len(conns) < 10 {
		t.Errorf("a 2 MB upload used %d connections; the budget should split it over many", len(conns2)-len(conns))
	}
	t.Logf("second upload with the budget known: %v over %d connections", time.Since(start).Round(time.Millisecond), len(conns2)-len(conns))
	var m2 Message
	for _, m := range waitFiles(t, bob, 2) {
		if m.File.Name == "second.ogg" {
			m2 = m
		}
	}
	got, err = bob.Download(ctx, m2.ID, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("bob downloading alice's upload in parts: %v", err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data2) {
		t.Fatal("bob's copy of the upload in parts differs")
	}
}
