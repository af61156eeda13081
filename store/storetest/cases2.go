package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

func testAck(t *testing.T, h *harness) {
	a := h.device(store.AccountID{})
	b := h.device(store.AccountID{})
	for i := 0; i < 10; i++ {
		h.send(app(fmt.Sprint(i), a.ID, b.ID))
	}
	es := h.pending(a.ID, 0)
	if err := h.s.Ack(ctx, a.ID, es[3].Seq); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	left := h.pending(a.ID, 0)
	if len(left) != 6 || left[0].Seq != es[4].Seq {
		t.Fatalf("after acking up to the 4th entry, %d left starting at seq %d; want 6 starting at %d", len(left), left[0].Seq, es[4].Seq)
	}
	if got := h.pending(b.ID, 0); len(got) != 10 {
		t.Fatalf("acking a's mailbox changed b's: %d left, want 10", len(got))
	}
	// Acking again, or below what is left, is harmless.
	if err := h.s.Ack(ctx, a.ID, es[1].Seq); err != nil {
		t.Fatalf("Ack again: %v", err)
	}
	if got := h.pending(a.ID, 0); len(got) != 6 {
		t.Fatalf("re-ack removed entries: %d left", len(got))
	}
	if err := h.s.Ack(ctx, a.ID, ^uint64(0)); err != nil {
		t.Fatalf("Ack(max): %v", err)
	}
	if got := h.pending(a.ID, 0); len(got) != 0 {
		t.Fatalf("%d left after acking everything", len(got))
	}
	if err := h.s.Ack(ctx, store.DeviceID{3}, 10); err != nil {
		t.Fatalf("Ack of an empty mailbox: %v", err)
	}
}

func testSeqNeverReused(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	h.send(app("1", d.ID))
	h.send(app("2", d.ID))
	es := h.pending(d.ID, 0)
	if err := h.s.Ack(ctx, d.ID, es[1].Seq); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	h.reopen()
	h.send(app("3", d.ID))
	es2 := h.pending(d.ID, 0)
	if len(es2) != 1 || es2[0].Seq <= es[1].Seq {
		t.Fatalf("after acking seq %d and reopening, the next entry has seq %d; a client that acked must never see a seq again", es[1].Seq, es2[0].Seq)
	}
	if es3 := h.pending(d.ID, es[1].Seq); len(es3) != 1 {
		t.Fatalf("Pending after the acked seq found %d, want the new entry", len(es3))
	}
}

func staleCurrent(t *testing.T, err error) uint64 {
	t.Helper()
	wantErr(t, "stale commit", err, store.ErrStaleEpoch)
	var se *store.StaleEpochError
	if !errors.As(err, &se) {
		t.Fatalf("stale commit error %v carries no *StaleEpochError", err)
	}
	return se.Current
}

func testStaleEpoch(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	g := newGroup()
	// An unknown group accepts a commit for any epoch and moves past it.
	if res := h.send(commit(g, 5, d.ID)); res.CurrentEpoch != 6 {
		t.Fatalf("first commit for epoch 5: CurrentEpoch %d, want 6", res.CurrentEpoch)
	}
	if e, err := h.s.GroupEpoch(ctx, g); err != nil || e != 6 {
		t.Fatalf("GroupEpoch = %d, %v; want 6", e, err)
	}
	for _, epoch := range []uint64{5, 7, 0} {
		res, err := h.s.Enqueue(ctx, commit(g, epoch, d.ID))
		if cur := staleCurrent(t, err); cur != 6 || res.CurrentEpoch != 6 {
			t.Fatalf("commit for epoch %d: current %d, result %d; want 6", epoch, cur, res.CurrentEpoch)
		}
	}
	// Non-commits are not ordered by the DS.
	old := commit(g, 2, d.ID)
	old.Kind = store.KindApplication
	h.send(old)
	if res := h.send(commit(g, 6, d.ID)); res.CurrentEpoch != 7 {
		t.Fatalf("commit for epoch 6: CurrentEpoch %d, want 7", res.CurrentEpoch)
	}
	es := h.pending(d.ID, 0)
	if len(es) != 3 || es[0].Epoch != 5 || es[1].Kind != store.KindApplication || es[2].Epoch != 6 {
		t.Fatalf("mailbox holds %d entries; want the epoch-5 commit, the application message and the epoch-6 commit", len(es))
	}
	// Other groups are independent.
	if res := h.send(commit(newGroup(), 0, d.ID)); res.CurrentEpoch != 1 {
		t.Fatalf("commit in another group: CurrentEpoch %d, want 1", res.CurrentEpoch)
	}
}

func testConcurrentCommits(t *testing.T, h *harness) {
	a := h.device(store.AccountID{})
	b := h.device(store.AccountID{})
	g := newGroup()
	h.send(commit(g, 0, a.ID, b.ID))
	const n = 32
	for epoch := uint64(1); epoch <= 3; epoch++ {
		var mu sync.Mutex
		won, lost := 0, 0
		other := concurrently(n, func(int) error {
			res, err := h.s.Enqueue(ctx, commit(g, epoch, a.ID, b.ID))
			mu.Lock()
			defer mu.Unlock()
			var se *store.StaleEpochError
			switch {
			case err == nil && res.CurrentEpoch == epoch+1:
				won++
			case errors.As(err, &se) && errors.Is(err, store.ErrStaleEpoch) && se.Current == epoch+1:
				lost++
			case err != nil:
				return err
			default:
				return fmt.Errorf("result %+v, error %v", res, err)
			}
			return nil
		})
		if len(other) > 0 || won != 1 || lost != n-1 {
			t.Fatalf("epoch %d: %d won, %d lost as stale, other outcomes %v; want exactly 1 winner", epoch, won, lost, other)
		}
	}
	for _, d := range []store.DeviceID{a.ID, b.ID} {
		es := h.pending(d, 0)
		if len(es) != 4 {
			t.Fatalf("%d commits in the mailbox, want 4 (one per epoch)", len(es))
		}
		for i, e := range es {
			if e.Epoch != uint64(i) || e.Kind != store.KindCommit {
				t.Fatalf("entry %d is a %v for epoch %d; want the commits in epoch order", i, e.Kind, e.Epoch)
			}
		}
	}
}

func testDuplicateCommit(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	g := newGroup()
	c := commit(g, 3, d.ID)
	h.send(c)
	h.send(commit(g, 4, d.ID))
	// The retry of an accepted commit is acknowledged, not refused as stale.
	res, err := h.s.Enqueue(ctx, c)
	if err != nil || !res.Duplicate || res.CurrentEpoch != 5 {
		t.Fatalf("retry of an accepted commit = %+v, %v; want a duplicate at current epoch 5", res, err)
	}
	// A refused commit is not remembered: retrying it is refused again.
	late := commit(g, 3, d.ID)
	for i := 0; i < 2; i++ {
		_, err := h.s.Enqueue(ctx, late)
		staleCurrent(t, err)
	}
}

func testDurability(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	g := newGroup()
	c := commit(g, 9, d.ID)
	h.send(c)
	msg := app("survives", d.ID)
	h.send(msg)
	if err := h.s.AddKeyPackages(ctx, d.ID, [][]byte{[]byte("kp")}, []byte("lr")); err != nil {
		t.Fatalf("AddKeyPackages: %v", err)
	}
	h.reopen()
	if got, err := h.s.Device(ctx, d.ID); err != nil || !bytes.Equal(got.Cert, d.Cert) {
		t.Fatalf("device after reopen: %v", err)
	}
	es := h.pending(d.ID, 0)
	if len(es) != 2 || es[0].MsgID != c.MsgID || string(es[1].Payload) != "survives" || es[0].Group != g {
		t.Fatalf("mailbox after reopen has %d entries, want the commit and the message", len(es))
	}
	if e, err := h.s.GroupEpoch(ctx, g); err != nil || e != 10 {
		t.Fatalf("group epoch after reopen = %d, %v; want 10", e, err)
	}
	if !h.send(msg).Duplicate {
		t.Fatal("seen ids lost on reopen: a retry was delivered twice")
	}
	_, err := h.s.Enqueue(ctx, commit(g, 9, d.ID))
	staleCurrent(t, err)
	if kp, err := h.s.ClaimKeyPackage(ctx, d.ID); err != nil || string(kp.Data) != "kp" {
		t.Fatalf("key package after reopen = %q, %v", kp.Data, err)
	}
}

func testLargePayload(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	big := randBytes(store.MaxPayload)
	s := app("", d.ID)
	s.Payload = big
	h.send(s)
	h.reopen()
	es := h.pending(d.ID, 0)
	if len(es) != 1 || !bytes.Equal(es[0].Payload, big) {
		t.Fatal("largest payload not returned intact")
	}
	s.MsgID = newMsgID()
	s.Payload = append(big, 0)
	_, err := h.s.Enqueue(ctx, s)
	wantErr(t, "oversized payload", err, store.ErrTooLarge)
}

func testBadInput(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	cases := []struct {
		name   string
		mutate func(*store.Send)
		want   error
	}{
		{"no recipients for an application message", func(s *store.Send) { s.Recipients = nil }, store.ErrInvalid},
		{"empty payload", func(s *store.Send) { s.Payload = nil }, store.ErrInvalid},
		{"kind 0", func(s *store.Send) { s.Kind = 0 }, store.ErrInvalid},
		{"kind 99", func(s *store.Send) { s.Kind = 99 }, store.ErrInvalid},
		{"too many recipients", func(s *store.Send) { s.Recipients = make([]store.DeviceID, store.MaxRecipients+1) }, store.ErrTooLarge},
		{"commit at the last epoch", func(s *store.Send) { s.Kind, s.Epoch = store.KindCommit, ^uint64(0) }, store.ErrInvalid},
	}
	for _, c := range cases {
		s := app("x", d.ID)
		c.mutate(&s)
		_, err := h.s.Enqueue(ctx, s)
		wantErr(t, c.name, err, c.want)
		if err != nil && err.Error() == c.want.Error() {
			t.Errorf("%s: error %q says nothing about what was wrong", c.name, err)
		}
	}
	for _, limit := range []int{0, -1, store.MaxPendingLimit + 1} {
		_, err := h.s.Pending(ctx, d.ID, 0, limit)
		wantErr(t, fmt.Sprintf("Pending limit %d", limit), err, store.ErrInvalid)
	}
	if es := h.pending(d.ID, 0); len(es) != 0 {
		t.Fatalf("refused sends left %d entries", len(es))
	}
}

func testWatch(t *testing.T, h *harness) {
	a := h.device(store.AccountID{})
	b := h.device(store.AccountID{})
	newsA, stopA := h.s.Watch(a.ID)
	newsB, stopB := h.s.Watch(b.ID)
	defer stopB()
	h.send(app("for a", a.ID))
	waitNews(t, newsA, true)
	waitNews(t, newsB, false)
	// Many enqueues coalesce into at most one pending signal.
	for i := 0; i < 5; i++ {
		h.send(app("for a", a.ID))
	}
	waitNews(t, newsA, true)
	stopA()
	stopA() // idempotent
	h.send(app("for a", a.ID))
	waitNews(t, newsA, false)
	// A refused send is no news.
	_, err := h.s.Enqueue(ctx, app("x", b.ID, store.DeviceID{5}))
	wantErr(t, "unknown recipient", err, store.ErrNotFound)
	waitNews(t, newsB, false)
}

func testExpireMailbox(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	h.send(app("old", d.ID))
	if n, err := h.s.ExpireMailbox(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("ExpireMailbox(an hour ago) = %d, %v; want 0", n, err)
	}
	if n, err := h.s.ExpireMailbox(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("ExpireMailbox(in an hour) = %d, %v; want 1", n, err)
	}
	if es := h.pending(d.ID, 0); len(es) != 0 {
		t.Fatalf("%d entries left after expiry", len(es))
	}
}

func testClosed(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	if err := h.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := h.s.Enqueue(ctx, app("late", d.ID))
	wantErr(t, "Enqueue after Close", err, store.ErrClosed)
	_, err = h.s.Pending(ctx, d.ID, 0, 1)
	wantErr(t, "Pending after Close", err, store.ErrClosed)
	wantErr(t, "Ack after Close", h.s.Ack(ctx, d.ID, 1), store.ErrClosed)
	if err := h.s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	h.s = nil
}
