//go:build !js

package client

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/attach"
)

// BenchmarkFileTransfer uploads and downloads a 32 MiB file in process
// over loopback TCP, for one CPU profile of both sides:
// go test ./client -run '^$' -bench FileTransfer -cpuprofile /tmp/files.cpu
func BenchmarkFileTransfer(b *testing.B) {
	alice, bob, path := benchFriends(b)
	for n := 1; b.Loop(); n++ {
		start := time.Now()
		sendFile(b, alice, "bob", path, "", nil)
		up := time.Since(start)
		id := nthFile(b, bob, n)
		start = time.Now()
		if _, err := bob.Download(context.Background(), id, b.TempDir(), nil); err != nil {
			b.Fatal(err)
		}
		b.Logf("upload %v, download %v", up, time.Since(start))
	}
}

// BenchmarkFileDownload uploads a 32 MiB file once and downloads it
// again each round, in process over loopback TCP: a CPU profile of the
// download path alone (client and server):
// go test ./client -run '^$' -bench FileDownload -benchtime 20x -cpuprofile /tmp/down.cpu
func BenchmarkFileDownload(b *testing.B) {
	alice, bob, path := benchFriends(b)
	sendFile(b, alice, "bob", path, "", nil)
	id := nthFile(b, bob, 1)
	for b.Loop() {
		dir := b.TempDir()
		if _, err := bob.Download(context.Background(), id, dir, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir) // so that the next round downloads it again
		b.StartTimer()
	}
}

// benchFriends starts a file server and two friends on it, writes a
// random file of 32 MiB and sets it as the bytes of each round.
func benchFriends(b *testing.B) (alice, bob *Client, path string) {
	link, _ := startFileServer(b)
	alice, bob = newUser(b, link, "alice", nil), newUser(b, link, "bob", nil)
	befriend(b, alice, bob)
	const size = 128 * attach.ChunkSize
	path, _ = writeRandomFile(b, "big.bin", size)
	b.SetBytes(size)
	return alice, bob, path
}

// nthFile waits until c holds n incoming file messages and returns the
// newest one's id.
func nthFile(t testing.TB, c *Client, n int) int64 {
	t.Helper()
	got := waitFiles(t, c, n)
	return max(got[0].ID, got[len(got)-1].ID)
}

// waitFiles waits until c holds n incoming file messages and returns them.
func waitFiles(t testing.TB, c *Client, n int) []Message {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ms, _ := c.Messages(context.Background(), "", false)
		var got []Message
		for _, m := range ms {
			if m.Kind == MessageFile && !m.Out {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
	}
	t.Fatalf("%s never received %d files", c.Name(), n)
	return nil
}

// BenchmarkUploadSealing runs an upload's sealing pipeline alone (read,
// seal, hash and record every chunk of a 32 MiB file, attach_ahead.go),
// with no network: the fastest an upload can hand chunks to its sender.
// go test ./client -run '^$' -bench UploadSealing -benchtime 10x
func BenchmarkUploadSealing(b *testing.B) {
	link, _ := startFileServer(b)
	alice := newUser(b, link, "alice", nil)
	const size = 128 * attach.ChunkSize
	path, _ := writeRandomFile(b, "big.bin", size)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	b.SetBytes(size)
	for n := 0; b.Loop(); n++ {
		upKey := []byte(fmt.Sprint("upload ", n))
		rec, _, _, err := alice.prepareUpload(ctx, f, size, upKey)
		if err != nil {
			b.Fatal(err)
		}
		s, err := attach.NewSealer(rec.Key, f, size)
		if err != nil {
			b.Fatal(err)
		}
		a := alice.startAhead(ctx, s, rec, upKey)
		for i := range s.Count() {
			if _, _, err := a.chunk(ctx, i); err != nil {
				b.Fatal(err)
			}
		}
		a.close()
	}
}

// BenchmarkFileUpload uploads a 32 MiB file in process over loopback TCP
// (a fresh key each time, so every chunk is sent): one CPU profile of
// both sides of the upload path alone.
// go test ./client -run '^$' -bench FileUpload -benchtime 10x -cpuprofile /tmp/up.cpu
func BenchmarkFileUpload(b *testing.B) {
	link, _ := startFileServer(b)
	alice := newUser(b, link, "alice", nil)
	const size = 128 * attach.ChunkSize
	path, _ := writeRandomFile(b, "big.bin", size)
	ctx := context.Background()
	b.SetBytes(size)
	for b.Loop() {
		up, err := alice.UploadFile(ctx, path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := alice.Forget(ctx, up); err != nil {
			b.Fatal(err)
		}
	}
}
