package blobfs

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestMain runs the child of TestCrashKillDuringPuts when asked to.
func TestMain(m *testing.M) {
	if dir := os.Getenv("BLOBFS_CRASH_DIR"); dir != "" {
		first, _ := strconv.Atoi(os.Getenv("BLOBFS_CRASH_FIRST"))
		crashChild(dir, first)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChunk is chunk i of the crash test: 16-256 KiB, its bytes set by i.
func crashChunk(i int) []byte {
	d, _ := chunkN(i, 16<<10+(i*7919)%(240<<10))
	return d
}

// crashChild stores chunks first, first+1, ... with 16 writers at once and
// prints each one's number once PutChunk has returned, until it is killed.
func crashChild(dir string, first int) {
	s, err := Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := first + w; i < first+1_000_000; i += 16 {
				d := crashChunk(i)
				if err := s.PutChunk(context.Background(), sha256.Sum256(d), d); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				os.Stdout.WriteString(strconv.Itoa(i) + "\n")
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrashKillDuringPuts: a process storing chunks 16 at a time is killed
// with SIGKILL at a random moment, three times, each time on the same
// directory; after each kill the store opens and serves, byte-identical,
// every chunk the process had acknowledged (printed after PutChunk
// returned), and takes new chunks.
func TestCrashKillDuringPuts(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	acked := map[int]bool{}
	for cycle := range 3 {
		first := cycle * 1_000_000
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "BLOBFS_CRASH_DIR="+dir, "BLOBFS_CRASH_FIRST="+strconv.Itoa(first))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan int, 1<<16)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if i, err := strconv.Atoi(sc.Text()); err == nil {
					lines <- i
				}
			}
		}()
		// Kill once it has stored a few chunks, at a random moment after.
		got := 0
		for i := range lines {
			acked[i] = true
			if got++; got == 20 {
				break
			}
		}
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		cmd.Process.Kill()
		for i := range lines {
			acked[i] = true
		}
		cmd.Wait()
		if got < 20 {
			t.Fatalf("cycle %d: the child acknowledged %d chunks before it ended; stderr:\n%s", cycle, got, stderr.String())
		}

		s, err := Open(dir, nil)
		if err != nil {
			t.Fatalf("cycle %d: Open after a kill: %v", cycle, err)
		}
		for i := range acked {
			d := crashChunk(i)
			wantChunk(t, s, sha256.Sum256(d), d)
		}
		more := crashChunk(first + 999_999)
		mustPut(t, s, more)
		acked[first+999_999] = true
		s.Close()
		t.Logf("cycle %d: %d chunks acknowledged so far, all read back", cycle, len(acked))
	}
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range acked {
		d := crashChunk(i)
		wantChunk(t, s, sha256.Sum256(d), d)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return string(l.b) }
