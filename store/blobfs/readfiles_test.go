package blobfs

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// openPacks returns the pack files of dir this process holds open (a
// deleted one's name ends in " (deleted)").
func openPacks(t *testing.T, dir string) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/fd")
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, filepath.Join(dir, packsDir)) {
			held = append(held, target)
		}
	}
	return held
}

// TestReadFilesExpiredPackClosed: a pack read through the cache and then
// expired is closed, so its disk space is freed, and its chunks are not
// served from the open file.
func TestReadFilesExpiredPackClosed(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Now: func() time.Time { return now }})
	var hs [][32]byte
	for i := range 5 {
		d, h := chunkN(i, 3000)
		mustPut(t, s, d)
		wantChunk(t, s, h, d)
		hs = append(hs, h)
	}
	if held := openPacks(t, dir); len(held) != 2 { // the active pack's writer and its reader
		t.Fatalf("open pack files %v, want the pack open twice (appends, reads)", held)
	}
	now = now.Add(48 * time.Hour)
	if n, _, err := s.ExpireChunks(ctx, now.Add(-24*time.Hour)); err != nil || n != 5 {
		t.Fatalf("ExpireChunks = %d, %v; want 5", n, err)
	}
	if held := openPacks(t, dir); len(held) != 0 {
		t.Fatalf("after expiry the process still holds %v open", held)
	}
	for _, h := range hs {
		wantGone(t, s, h)
	}
}

// TestReadFilesBounded: reads of many packs keep at most maxReadFiles of
// them open, and Close closes them.
func TestReadFilesBounded(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{PackBytes: 2000}) // one chunk per pack
	const packs = 3 * maxReadFiles
	var data [][]byte
	var hs [][32]byte
	for i := range packs {
		d, h := chunkN(i, 1500)
		mustPut(t, s, d)
		data, hs = append(data, d), append(hs, h)
	}
	for round := range 2 {
		for i := range packs {
			wantChunk(t, s, hs[i], data[i])
		}
		if held := openPacks(t, dir); len(held) > maxReadFiles+1 { // + the active pack's writer
			t.Fatalf("round %d: %d pack files open after reading %d packs, want at most %d", round, len(held), packs, maxReadFiles+1)
		}
	}
	s.Close()
	if held := openPacks(t, dir); len(held) != 0 {
		t.Fatalf("after Close the process holds %v open", held)
	}
}

// TestReadFilesDroppedWhileRead: a cached file dropped while a read uses
// it stays open until that read ends, then is closed.
func TestReadFilesDroppedWhileRead(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	d, h := chunkN(1, 1000)
	mustPut(t, s, d)
	l, _ := s.lookup(h)
	rf, err := s.acquireRead(l.p)
	if err != nil {
		t.Fatal(err)
	}
	s.forgetRead(l.p)
	b := make([]byte, l.n)
	if _, err := rf.f.ReadAt(b, l.off); err != nil {
		t.Fatalf("a read under way lost its file: %v", err)
	}
	s.releaseRead(rf)
	if _, err := rf.f.Stat(); err == nil {
		t.Fatal("the dropped file is still open after its last read")
	}
	wantChunk(t, s, h, d) // opened again: the pack is not deleted
}
