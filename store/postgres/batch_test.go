//go:build linux

package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

func randDevice(t *testing.T, s *Store) store.DeviceID {
	t.Helper()
	var d store.Device
	rand.Read(d.ID[:])
	rand.Read(d.Account[:])
	d.Key, d.Cert = make([]byte, 32), make([]byte, 64)
	if err := s.PutDevice(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d.ID
}

func randSend(kind store.Kind, g store.GroupHash, epoch uint64, to ...store.DeviceID) store.Send {
	s := store.Send{Kind: kind, Group: g, Epoch: epoch, Recipients: to, Payload: []byte("x")}
	rand.Read(s.MsgID[:])
	return s
}

// TestSendsShareCommits checks the group commit: many Sends queued at once
// commit in far fewer transactions than Sends, and each gets its answer.
func TestSendsShareCommits(t *testing.T) {
	dsn := newTestDB(t)
	var batches, sends atomic.Int64
	s, err := Open(context.Background(), dsn, &Options{OnCommit: func(d [][]store.DeviceID) {
		batches.Add(1)
		sends.Add(int64(len(d)))
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dev := randDevice(t, s)
	const n = 2000
	pending := make([]store.PendingSend, n)
	for i := range pending {
		pending[i] = s.EnqueueAsync(context.Background(), randSend(store.KindApplication, store.GroupHash{1}, 0, dev))
	}
	for i, p := range pending {
		if _, err := p.Wait(); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	es, err := s.Pending(context.Background(), dev, 0, n)
	if err != nil || len(es) != n {
		t.Fatalf("%d entries, %v; want %d", len(es), err, n)
	}
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: the queue order was not kept", i, e.Seq)
		}
	}
	if b := batches.Load(); b == 0 || b > n/4 {
		t.Fatalf("%d Sends in %d transactions; want group commits (at most %d)", sends.Load(), b, n/4)
	}
	t.Logf("%d Sends in %d transactions", sends.Load(), batches.Load())
}

// TestTwoNodesOneDatabase runs two stores, as two server nodes would, on one
// database: commits race for each epoch of one group from both, and Sends
// to shared devices race too. Exactly one commit per epoch must win, and
// every device's seqs must be 1..n with none reused or lost.
func TestTwoNodesOneDatabase(t *testing.T) {
	dsn := newTestDB(t)
	var nodes [2]*Store
	for i := range nodes {
		s, err := Open(context.Background(), dsn, &Options{MaxBatch: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	devs := []store.DeviceID{randDevice(t, nodes[0]), randDevice(t, nodes[1]), randDevice(t, nodes[0])}
	g := store.GroupHash{7}
	const epochs, racers, apps = 5, 8, 300
	var accepted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := 0; i < apps; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := nodes[i%2].Enqueue(context.Background(), randSend(store.KindApplication, store.GroupHash{9}, 0, devs...)); err != nil {
				errs <- err
			} else {
				accepted.Add(1)
			}
		}()
	}
	for epoch := uint64(0); epoch < epochs; epoch++ {
		var won atomic.Int64
		var ewg sync.WaitGroup
		for r := 0; r < racers; r++ {
			ewg.Add(1)
			go func() {
				defer ewg.Done()
				res, err := nodes[r%2].Enqueue(context.Background(), randSend(store.KindCommit, g, epoch, devs...))
				switch {
				case err == nil && res.CurrentEpoch == epoch+1:
					won.Add(1)
					accepted.Add(1)
				case errors.Is(err, store.ErrStaleEpoch):
				default:
					errs <- err
				}
			}()
		}
		ewg.Wait()
		if w := won.Load(); w != 1 {
			t.Fatalf("epoch %d: %d commits won across two nodes, want exactly 1", epoch, w)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("unexpected outcome: %v", err)
	}
	for _, d := range devs {
		es, err := nodes[0].Pending(context.Background(), d, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(es)) != accepted.Load() {
			t.Fatalf("device has %d entries, %d Sends were accepted", len(es), accepted.Load())
		}
		commits := uint64(0)
		for i, e := range es {
			if e.Seq != uint64(i+1) {
				t.Fatalf("entry %d has seq %d; want 1..n, none reused or skipped", i, e.Seq)
			}
			if e.Kind == store.KindCommit {
				if e.Epoch != commits {
					t.Fatalf("commit for epoch %d after %d commits: out of order", e.Epoch, commits)
				}
				commits++
			}
		}
	}
	if e, err := nodes[1].GroupEpoch(context.Background(), g); err != nil || e != epochs {
		t.Fatalf("group epoch %d, %v; want %d", e, err, epochs)
	}
}

// TestCloseAnswersEverySend: Sends queued from many goroutines while the
// store closes are each answered (committed, or ErrClosed), none left
// waiting for ever.
func TestCloseAnswersEverySend(t *testing.T) {
	dsn := newTestDB(t)
	s, err := Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := randDevice(t, s)
	var wg sync.WaitGroup
	var answered, closed atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				_, err := s.EnqueueAsync(context.Background(), randSend(store.KindApplication, store.GroupHash{3}, 0, dev)).Wait()
				answered.Add(1)
				if errors.Is(err, store.ErrClosed) {
					closed.Add(1)
				} else if err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	s.Close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d Sends answered, the others still wait 30 s after Close", answered.Load())
	}
	t.Logf("%d answered, %d of them ErrClosed", answered.Load(), closed.Load())
}
