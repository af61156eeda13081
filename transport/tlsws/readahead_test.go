package tlsws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// record returns an encrypted-looking TLS record (application data) with
// a body of n bytes of b.
func record(n int, b byte) []byte {
	r := []byte{recordTypeApplicationData, 3, 3, byte(n >> 8), byte(n)}
	return append(r, bytes.Repeat([]byte{b}, n)...)
}

// dialWS dials a tunnel with cfg, within 10 s.
func dialWS(t testing.TB, cfg DialConfig) *wsConn {
	t.Helper()
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*wsConn)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestReadAheadCountsArrivals: while reading ahead, records are counted as
// they arrive, with nobody reading; TLS then gets every byte in order, its
// read deadline holds, and after the stop it reads the conn again.
func TestReadAheadCountsArrivals(t *testing.T) {
	ours, peer := net.Pipe()
	defer peer.Close()
	rc := &recordCounter{Conn: ours}
	rc.SetReadDeadline(time.Now().Add(time.Hour))
	// TLS read the first bytes of a record before the read-ahead starts:
	// its arrivals are counted from there (a fresh count took the middle
	// of the record for a header, and counted records that were not).
	zeroth := record(100, 9)
	go peer.Write(zeroth[:7])
	if _, err := io.ReadFull(rc, make([]byte, 7)); err != nil {
		t.Fatal(err)
	}
	rc.startReadAhead()
	first := append(zeroth[7:], append(record(300, 1), record(20, 2)...)...)
	go peer.Write(first)
	waitFor(t, "three records counted with no read", func() bool { return rc.records.Load() == 3 })
	time.Sleep(10 * time.Millisecond)
	if n := rc.records.Load(); n != 3 {
		t.Fatalf("%d records counted, 3 arrived", n)
	}
	if rc.consumed.Load() != 0 {
		t.Fatalf("TLS read %d records, none was read", rc.consumed.Load())
	}
	got := make([]byte, len(first))
	if _, err := io.ReadFull(rc, got); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("read ahead: %v; bytes equal: %v", err, bytes.Equal(got, first))
	}
	rc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := rc.Read(got); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	rc.SetReadDeadline(time.Time{})

	second := record(40, 3)
	go peer.Write(second)
	waitFor(t, "the fourth record", func() bool { return rc.records.Load() == 4 })
	rc.stopReadAhead()
	third := record(50, 4)
	go peer.Write(third)
	want := append(append([]byte{}, second...), third...)
	got = make([]byte, len(want))
	if _, err := io.ReadFull(rc, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the stop: %v; bytes equal: %v", err, bytes.Equal(got, want))
	}
	if rc.records.Load() != 5 || rc.consumed.Load() != 5 || rc.pending() {
		t.Fatalf("records %d, read by TLS %d, pending %v; want 5, 5, false", rc.records.Load(), rc.consumed.Load(), rc.pending())
	}
}

// TestWriteOnlyTunnelSeesTheRelaysRecords: a client that only writes (an
// upload) sees the relay's records of its trace as they arrive, so its
// replay never runs out of waiting for them. Before readahead.go the
// records were counted only when the tunnel's user read: this test failed
// (the replay gave up on the relay), and each such wait cost 300 ms
// (peerWait), the opening of a 64 MiB upload 350-450 ms.
func TestWriteOnlyTunnelSeesTheRelaysRecords(t *testing.T) {
	_, cfg, _ := standalone(t, nil)
	c := dialWS(t, cfg)
	defer c.Close()
	sent := make([]byte, 1<<20)
	for i := range sent {
		sent[i] = byte(i * 7)
	}
	go func() {
		for p := sent; len(p) > 0; p = p[min(len(p), 64<<10):] {
			if _, err := c.Write(p[:min(len(p), 64<<10)]); err != nil {
				return
			}
		}
	}()
	waitFor(t, "the replay's end", func() bool {
		c.shape.mu.Lock()
		defer c.shape.mu.Unlock()
		return !c.shape.active
	})
	if c.shape.peer == nil {
		t.Fatal("the replay gave up waiting for the relay's records: it never saw them arrive")
	}
	// The echo comes back whole and in order, through the read-ahead.
	got := make([]byte, len(sent))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("echo: %v; equal: %v", err, bytes.Equal(got, sent))
	}
}

// TestNoWriteLostAtTheReplaysEnd: writers that keep writing through the
// end of the opening's replay get no error. A Write queued after the
// replay took its last queued bytes, but before it ended, was left behind
// and failed with "use of closed network connection" (the forwarders
// benchmark's 100-byte stream met it once; it failed
// TestAdversaryHTTP1CoverOpening under -race once the replay's end also
// stopped the read-ahead, and this test then).
func TestNoWriteLostAtTheReplaysEnd(t *testing.T) {
	_, cfg, _ := standalone(t, nil)
	for range 10 {
		c := dialWS(t, cfg)
		go io.Copy(io.Discard, c) // the echo
		errs := make(chan error, 4)
		for range cap(errs) {
			go func() {
				msg := make([]byte, 100)
				var ended time.Time
				for ended.IsZero() || time.Since(ended) < 20*time.Millisecond {
					if _, err := c.Write(msg); err != nil {
						errs <- err
						return
					}
					c.shape.mu.Lock()
					if !c.shape.active && ended.IsZero() {
						ended = time.Now()
					}
					c.shape.mu.Unlock()
				}
				errs <- nil
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatalf("a Write during the opening: %v", err)
			}
		}
		c.Close()
	}
}

// TestDataWaitRunsOutOnce: a large record with nothing to carry waits
// dataWait for the tunnel's bytes once; after a wait that ran out, later
// records go at once (the relay of an upload waited 50 ms on each of its
// trace's large records: in 9 logged openings its replay took the trace's
// time plus 100-105 ms). Bytes waiting need no wait.
func TestDataWaitRunsOutOnce(t *testing.T) {
	c := &wsConn{closed: make(chan struct{})}
	c.shape.kick = make(chan struct{}, 1)
	waits := true
	start := time.Now()
	if !c.waitForData(&waits) || waits {
		t.Fatalf("after a wait with nothing coming, later records still wait (%v)", waits)
	}
	if took := time.Since(start); took < dataWait {
		t.Fatalf("the first wait took %v, want %v", took, dataWait)
	}
	start = time.Now()
	if !c.waitForData(&waits) || time.Since(start) > dataWait/2 {
		t.Fatalf("a later record waited %v after a wait ran out", time.Since(start))
	}
	c.shape.queue = []byte{1}
	waits = true
	if !c.waitForData(&waits) || !waits {
		t.Fatal("bytes waiting to go ended the waits")
	}
}
