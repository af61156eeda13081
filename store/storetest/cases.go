package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

func testDevices(t *testing.T, h *harness) {
	a := h.device(store.AccountID{})
	b := h.device(a.Account)
	other := h.device(store.AccountID{})

	got, err := h.s.Device(ctx, a.ID)
	if err != nil {
		t.Fatalf("Device: %v", err)
	}
	if got.ID != a.ID || got.Account != a.Account || !bytes.Equal(got.Key, a.Key) || !bytes.Equal(got.Cert, a.Cert) || got.CreatedAt.IsZero() {
		t.Fatalf("Device = %+v, want %+v with a creation time", got, a)
	}
	list, err := h.s.DevicesOf(ctx, a.Account)
	if err != nil {
		t.Fatalf("DevicesOf: %v", err)
	}
	ids := map[store.DeviceID]bool{}
	for _, d := range list {
		ids[d.ID] = true
	}
	if len(list) != 2 || !ids[a.ID] || !ids[b.ID] || ids[other.ID] {
		t.Fatalf("DevicesOf = %d devices %v, want exactly a and b", len(list), ids)
	}
	if list, err := h.s.DevicesOf(ctx, store.AccountID{1}); err != nil || len(list) != 0 {
		t.Fatalf("DevicesOf(unknown) = %v, %v; want none", list, err)
	}

	// Re-registering refreshes the certificate, keeps the account.
	a2 := a
	a2.Cert = randBytes(64)
	if err := h.s.PutDevice(ctx, a2); err != nil {
		t.Fatalf("PutDevice again: %v", err)
	}
	if got, _ := h.s.Device(ctx, a.ID); !bytes.Equal(got.Cert, a2.Cert) {
		t.Fatal("re-registration did not replace the certificate")
	}
	// The same device under another account is refused.
	stolen := a
	stolen.Account = other.Account
	wantErr(t, "PutDevice under another account", h.s.PutDevice(ctx, stolen), store.ErrDuplicate)
	if got, _ := h.s.Device(ctx, a.ID); got.Account != a.Account {
		t.Fatal("refused registration changed the account")
	}

	_, err = h.s.Device(ctx, store.DeviceID{9})
	wantErr(t, "Device(unknown)", err, store.ErrNotFound)
	wantErr(t, "PutDevice without key", h.s.PutDevice(ctx, store.Device{ID: store.DeviceID{1}, Cert: []byte{1}}), store.ErrInvalid)
	wantErr(t, "PutDevice without cert", h.s.PutDevice(ctx, store.Device{ID: store.DeviceID{1}, Key: []byte{1}}), store.ErrInvalid)
}

func testKeyPackages(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	_, err := h.s.ClaimKeyPackage(ctx, d.ID)
	wantErr(t, "claim with none stored", err, store.ErrNotFound)
	wantErr(t, "add for unknown device", h.s.AddKeyPackages(ctx, store.DeviceID{7}, [][]byte{{1}}, nil), store.ErrNotFound)
	wantErr(t, "add nothing", h.s.AddKeyPackages(ctx, d.ID, nil, nil), store.ErrInvalid)
	wantErr(t, "add empty package", h.s.AddKeyPackages(ctx, d.ID, [][]byte{{}}, nil), store.ErrInvalid)
	wantErr(t, "add oversized package", h.s.AddKeyPackages(ctx, d.ID, [][]byte{make([]byte, store.MaxKeyPackage+1)}, nil), store.ErrTooLarge)

	if err := h.s.AddKeyPackages(ctx, d.ID, [][]byte{[]byte("kp1"), []byte("kp2")}, []byte("lr1")); err != nil {
		t.Fatalf("AddKeyPackages: %v", err)
	}
	if err := h.s.AddKeyPackages(ctx, d.ID, [][]byte{[]byte("kp3")}, nil); err != nil {
		t.Fatalf("AddKeyPackages: %v", err)
	}
	for _, want := range []string{"kp1", "kp2", "kp3"} {
		kp, err := h.s.ClaimKeyPackage(ctx, d.ID)
		if err != nil || string(kp.Data) != want || kp.LastResort {
			t.Fatalf("claim = %q last resort %v, %v; want one-time %q (oldest first)", kp.Data, kp.LastResort, err, want)
		}
	}
	// The last-resort package is handed out again and again, never deleted.
	for i := 0; i < 3; i++ {
		kp, err := h.s.ClaimKeyPackage(ctx, d.ID)
		if err != nil || string(kp.Data) != "lr1" || !kp.LastResort {
			t.Fatalf("claim %d after one-time ones ran out = %q last resort %v, %v; want last resort lr1", i, kp.Data, kp.LastResort, err)
		}
	}
	// Publishing a new last-resort package replaces the old one.
	if err := h.s.AddKeyPackages(ctx, d.ID, nil, []byte("lr2")); err != nil {
		t.Fatalf("AddKeyPackages(last resort): %v", err)
	}
	if kp, err := h.s.ClaimKeyPackage(ctx, d.ID); err != nil || string(kp.Data) != "lr2" || !kp.LastResort {
		t.Fatalf("claim after replacing last resort = %q, %v; want lr2", kp.Data, err)
	}
	// One device's packages are not another's.
	e := h.device(d.Account)
	_, err = h.s.ClaimKeyPackage(ctx, e.ID)
	wantErr(t, "claim for a device without packages", err, store.ErrNotFound)
}

func testConcurrentClaims(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	const n, claimers, each = 200, 40, 8 // 320 claims for 200 packages
	var kps [][]byte
	for i := 0; i < n; i++ {
		kps = append(kps, []byte(fmt.Sprintf("one-time-%d", i)))
	}
	if err := h.s.AddKeyPackages(ctx, d.ID, kps, []byte("last-resort")); err != nil {
		t.Fatalf("AddKeyPackages: %v", err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	lastResort := 0
	errs := concurrently(claimers, func(int) error {
		for range each {
			kp, err := h.s.ClaimKeyPackage(ctx, d.ID)
			if err != nil {
				return err
			}
			mu.Lock()
			if kp.LastResort {
				lastResort++
			} else {
				got[string(kp.Data)]++
			}
			mu.Unlock()
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatalf("concurrent claims: %v", errs)
	}
	for kp, k := range got {
		if k != 1 {
			t.Errorf("one-time package %q handed out %d times", kp, k)
		}
	}
	if len(got) != n || lastResort != claimers*each-n {
		t.Fatalf("%d distinct one-time and %d last-resort claims; want %d and %d", len(got), lastResort, n, claimers*each-n)
	}
}

func testMailboxOrder(t *testing.T, h *harness) {
	a := h.device(store.AccountID{})
	b := h.device(store.AccountID{})
	const n = 60
	for i := 0; i < n; i++ {
		to := []store.DeviceID{a.ID}
		if i%2 == 0 {
			to = append(to, b.ID)
		}
		h.send(app(fmt.Sprint(i), to...))
	}
	check := func(d store.DeviceID, want []int) {
		t.Helper()
		es := h.pending(d, 0)
		if len(es) != len(want) {
			t.Fatalf("%d pending, want %d", len(es), len(want))
		}
		for i, e := range es {
			if string(e.Payload) != fmt.Sprint(want[i]) {
				t.Fatalf("entry %d has payload %q, want %d (order must be enqueue order)", i, e.Payload, want[i])
			}
			if i > 0 && e.Seq <= es[i-1].Seq {
				t.Fatalf("seq %d after %d: not increasing", e.Seq, es[i-1].Seq)
			}
			if e.Kind != store.KindApplication || e.Epoch != 1 || e.EnqueuedAt.IsZero() {
				t.Fatalf("entry %d = %+v: fields not kept", i, e)
			}
		}
		// Paging with afterSeq and limit walks the same sequence.
		var paged []store.Entry
		after := uint64(0)
		for {
			page, err := h.s.Pending(ctx, d, after, 7)
			if err != nil {
				t.Fatalf("Pending page: %v", err)
			}
			if len(page) > 7 {
				t.Fatalf("page of %d entries, limit 7", len(page))
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1].Seq
		}
		if len(paged) != len(es) {
			t.Fatalf("paging found %d entries, want %d", len(paged), len(es))
		}
		for i := range es {
			if paged[i].Seq != es[i].Seq || paged[i].MsgID != es[i].MsgID {
				t.Fatalf("page entry %d differs from the full listing", i)
			}
		}
	}
	var all, even []int
	for i := 0; i < n; i++ {
		all = append(all, i)
		if i%2 == 0 {
			even = append(even, i)
		}
	}
	check(a.ID, all)
	check(b.ID, even)
}

func testConcurrentSenders(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	const senders, each = 50, 20
	errs := concurrently(senders, func(s int) error {
		for i := range each {
			// Each sender's own messages must stay in its order.
			if _, err := h.s.Enqueue(ctx, app(fmt.Sprintf("%d/%d", s, i), d.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatalf("Enqueue: %v", errs)
	}
	es := h.pending(d.ID, 0)
	if len(es) != senders*each {
		t.Fatalf("%d pending, want %d", len(es), senders*each)
	}
	next := map[int]int{}
	for i, e := range es {
		if i > 0 && e.Seq <= es[i-1].Seq {
			t.Fatalf("seq %d after %d", e.Seq, es[i-1].Seq)
		}
		var s, k int
		fmt.Sscanf(string(e.Payload), "%d/%d", &s, &k)
		if next[s] != k {
			t.Fatalf("sender %d: message %d arrived when %d was due", s, k, next[s])
		}
		next[s]++
	}
}

func testDuplicateRecipients(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	h.send(app("x", d.ID, d.ID, d.ID))
	if es := h.pending(d.ID, 0); len(es) != 1 {
		t.Fatalf("%d entries for a device named thrice, want 1", len(es))
	}
}

func testUnknownRecipient(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	g := newGroup()
	_, err := h.s.Enqueue(ctx, commit(g, 0, d.ID, store.DeviceID{42}))
	wantErr(t, "send to an unknown device", err, store.ErrNotFound)
	if es := h.pending(d.ID, 0); len(es) != 0 {
		t.Fatalf("the known recipient got %d entries from a refused send", len(es))
	}
	_, err = h.s.GroupEpoch(ctx, g)
	wantErr(t, "epoch of a group whose only commit was refused", err, store.ErrNotFound)
}

func testIdempotent(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	s := app("once", d.ID)
	if res := h.send(s); res.Duplicate {
		t.Fatal("first send reported as duplicate")
	}
	for i := 0; i < 3; i++ {
		if res := h.send(s); !res.Duplicate {
			t.Fatalf("retry %d not reported as duplicate", i)
		}
	}
	if es := h.pending(d.ID, 0); len(es) != 1 {
		t.Fatalf("%d entries after retries, want 1", len(es))
	}
}

func testConcurrentRetries(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	const n = 32
	s := app("once", d.ID)
	var mu sync.Mutex
	fresh := 0
	errs := concurrently(n, func(int) error {
		res, err := h.s.Enqueue(ctx, s)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && !res.Duplicate {
			fresh++
		}
		return err
	})
	if len(errs) > 0 {
		t.Fatalf("Enqueue: %v", errs)
	}
	if fresh != 1 {
		t.Fatalf("%d of %d concurrent retries were not duplicates, want exactly 1", fresh, n)
	}
	if es := h.pending(d.ID, 0); len(es) != 1 {
		t.Fatalf("%d entries after concurrent retries, want 1", len(es))
	}
}

func testSeenExpiry(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	s := app("again", d.ID)
	h.send(s)
	if n, err := h.s.ExpireSeen(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("ExpireSeen(an hour ago) = %d, %v; want nothing expired", n, err)
	}
	if !h.send(s).Duplicate {
		t.Fatal("retry inside the window not a duplicate")
	}
	if n, err := h.s.ExpireSeen(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("ExpireSeen(in an hour) = %d, %v; want 1", n, err)
	}
	if h.send(s).Duplicate {
		t.Fatal("retry after the window still a duplicate")
	}
	if es := h.pending(d.ID, 0); len(es) != 2 {
		t.Fatalf("%d entries, want 2 (a retry after the window is delivered again)", len(es))
	}
}
