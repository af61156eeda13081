//go:build !js

package client

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// heapPeak samples the bytes of heap objects (live and not yet swept)
// every few milliseconds until stop is called, and returns the peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// TestFileMemoryFlat: issue 16's "memory stays flat (the file is
// streamed, never held whole)". Sender, server and receiver run in this
// process; the peak heap while a 64 MiB file goes up and comes down must
// exceed the peak for an 8 MiB file by much less than the 56 MiB between
// them (the chunks in flight each way, not the file).
func TestFileMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 72 MiB up and down")
	}
	link, _ := startFileServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	befriend(t, alice, bob)
	var peaks []uint64
	for n, size := range []int{8 << 20, 64 << 20} {
		path, _ := writeRandomFile(t, "big.bin", size)
		runtime.GC()
		stop := heapPeak()
		sendFile(t, alice, "bob", path, "", nil)
		if _, err := bob.Download(context.Background(), nthFile(t, bob, n+1), t.TempDir(), nil); err != nil {
			stop()
			t.Fatal(err)
		}
		peaks = append(peaks, stop())
		t.Logf("%d MiB file: peak heap %d MiB", size>>20, peaks[n]>>20)
	}
	const bound = 24 << 20
	if grew := int64(peaks[1]) - int64(peaks[0]); grew > bound {
		t.Fatalf("the peak heap grew by %d MiB from an 8 MiB to a 64 MiB file; want at most %d MiB (the file must be streamed)", grew>>20, bound>>20)
	}
}
