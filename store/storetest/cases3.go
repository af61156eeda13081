package storetest

import (
	"bytes"
	"testing"

	"github.com/samizdat-project/samizdat/store"
)

func testRevokeDevice(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	sibling := h.device(d.Account)
	if err := h.s.AddKeyPackages(ctx, d.ID, [][]byte{[]byte("kp")}, []byte("lr")); err != nil {
		t.Fatalf("AddKeyPackages: %v", err)
	}
	h.send(app("before", d.ID, sibling.ID)) // also puts d in any per-device cache
	if revoked, err := h.s.DeviceRevoked(ctx, d.ID); err != nil || revoked {
		t.Fatalf("DeviceRevoked before revocation = %v, %v; want false", revoked, err)
	}
	if err := h.s.RevokeDevice(ctx, d.ID); err != nil {
		t.Fatalf("RevokeDevice: %v", err)
	}
	_, err := h.s.Device(ctx, d.ID)
	wantErr(t, "Device after revocation", err, store.ErrNotFound)
	if es := h.pending(d.ID, 0); len(es) != 0 {
		t.Fatalf("revoked device still has %d mailbox entries", len(es))
	}
	_, err = h.s.ClaimKeyPackage(ctx, d.ID)
	wantErr(t, "claim from a revoked device", err, store.ErrNotFound)
	_, err = h.s.Enqueue(ctx, app("after", d.ID))
	wantErr(t, "send to a revoked device", err, store.ErrNotFound)
	if list, err := h.s.DevicesOf(ctx, d.Account); err != nil || len(list) != 1 || list[0].ID != sibling.ID {
		t.Fatalf("DevicesOf after revocation = %d devices, %v; want only the sibling", len(list), err)
	}
	if es := h.pending(sibling.ID, 0); len(es) != 1 {
		t.Fatalf("the sibling's mailbox has %d entries, want 1 (revocation touches only the revoked device)", len(es))
	}
	// Idempotent, and for good: it cannot come back, even after a reopen.
	if err := h.s.RevokeDevice(ctx, d.ID); err != nil {
		t.Fatalf("RevokeDevice again: %v", err)
	}
	h.reopen()
	if revoked, err := h.s.DeviceRevoked(ctx, d.ID); err != nil || !revoked {
		t.Fatalf("DeviceRevoked after reopen = %v, %v; want true", revoked, err)
	}
	wantErr(t, "PutDevice of a revoked device", h.s.PutDevice(ctx, d), store.ErrRevoked)
	if _, err := h.s.Device(ctx, d.ID); err == nil {
		t.Fatal("a revoked device registered again")
	}
	// An unknown id can be revoked too (say, a device that never came online).
	unknown := store.DeviceID{0xde, 0xad}
	if err := h.s.RevokeDevice(ctx, unknown); err != nil {
		t.Fatalf("RevokeDevice(unknown): %v", err)
	}
	if revoked, err := h.s.DeviceRevoked(ctx, unknown); err != nil || !revoked {
		t.Fatalf("DeviceRevoked(unknown, revoked) = %v, %v; want true", revoked, err)
	}
	if revoked, err := h.s.DeviceRevoked(ctx, sibling.ID); err != nil || revoked {
		t.Fatalf("DeviceRevoked(sibling) = %v, %v; want false", revoked, err)
	}
}

func testCountKeyPackages(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	count := func(want int, wantLR bool) {
		t.Helper()
		n, lr, err := h.s.CountKeyPackages(ctx, d.ID)
		if err != nil || n != want || lr != wantLR {
			t.Fatalf("CountKeyPackages = %d, %v, %v; want %d, %v", n, lr, err, want, wantLR)
		}
	}
	count(0, false)
	if err := h.s.AddKeyPackages(ctx, d.ID, [][]byte{[]byte("a"), []byte("b"), []byte("c")}, nil); err != nil {
		t.Fatalf("AddKeyPackages: %v", err)
	}
	count(3, false)
	if err := h.s.AddKeyPackages(ctx, d.ID, nil, []byte("lr")); err != nil {
		t.Fatalf("AddKeyPackages: %v", err)
	}
	count(3, true)
	for want := 2; want >= 0; want-- {
		if _, err := h.s.ClaimKeyPackage(ctx, d.ID); err != nil {
			t.Fatalf("ClaimKeyPackage: %v", err)
		}
		count(want, true)
	}
	if _, err := h.s.ClaimKeyPackage(ctx, d.ID); err != nil { // the last resort, kept
		t.Fatalf("ClaimKeyPackage: %v", err)
	}
	count(0, true)
	if n, lr, err := h.s.CountKeyPackages(ctx, store.DeviceID{8}); err != nil || n != 0 || lr {
		t.Fatalf("CountKeyPackages(unknown) = %d, %v, %v; want 0, false, nil", n, lr, err)
	}
}

func testGroupInfo(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	g := newGroup()
	wantErr(t, "PutGroupInfo for an unknown group", h.s.PutGroupInfo(ctx, g, 0, []byte("gi")), store.ErrNotFound)
	_, _, err := h.s.GroupInfo(ctx, g)
	wantErr(t, "GroupInfo of an unknown group", err, store.ErrNotFound)

	h.send(commit(g, 0, d.ID)) // epoch 1
	_, _, err = h.s.GroupInfo(ctx, g)
	wantErr(t, "GroupInfo before any publish", err, store.ErrNotFound)
	err = h.s.PutGroupInfo(ctx, g, 0, []byte("gi@0"))
	if cur := staleCurrent(t, err); cur != 1 {
		t.Fatalf("stale PutGroupInfo names epoch %d, want 1", cur)
	}
	wantErr(t, "PutGroupInfo for a future epoch", h.s.PutGroupInfo(ctx, g, 2, []byte("gi@2")), store.ErrStaleEpoch)
	wantErr(t, "empty group info", h.s.PutGroupInfo(ctx, g, 1, nil), store.ErrInvalid)
	wantErr(t, "oversized group info", h.s.PutGroupInfo(ctx, g, 1, make([]byte, store.MaxGroupInfo+1)), store.ErrTooLarge)
	get := func(wantEpoch uint64, want []byte) {
		t.Helper()
		e, info, err := h.s.GroupInfo(ctx, g)
		if err != nil || e != wantEpoch || !bytes.Equal(info, want) {
			t.Fatalf("GroupInfo = %d, %q, %v; want %d, %q", e, info, err, wantEpoch, want)
		}
	}
	for _, info := range []string{"gi@1", "gi@1 again"} { // a republish replaces
		if err := h.s.PutGroupInfo(ctx, g, 1, []byte(info)); err != nil {
			t.Fatalf("PutGroupInfo: %v", err)
		}
		get(1, []byte(info))
	}
	// A commit makes the stored one stale; it stays until replaced.
	h.send(commit(g, 1, d.ID))
	get(1, []byte("gi@1 again"))
	wantErr(t, "PutGroupInfo at the old epoch", h.s.PutGroupInfo(ctx, g, 1, []byte("late")), store.ErrStaleEpoch)
	big := randBytes(store.MaxGroupInfo)
	if err := h.s.PutGroupInfo(ctx, g, 2, big); err != nil {
		t.Fatalf("PutGroupInfo(largest): %v", err)
	}
	h.reopen()
	get(2, big)
	// Other groups are independent.
	_, _, err = h.s.GroupInfo(ctx, newGroup())
	wantErr(t, "GroupInfo of another group", err, store.ErrNotFound)
}

func testCommitWithoutRecipients(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	g := newGroup()
	first := commit(g, 0) // wire.md §6.3: the first commit registers the group
	if res := h.send(first); res.Duplicate || res.CurrentEpoch != 1 {
		t.Fatalf("first commit without recipients = %+v; want accepted at epoch 1", res)
	}
	if e, err := h.s.GroupEpoch(ctx, g); err != nil || e != 1 {
		t.Fatalf("GroupEpoch = %d, %v; want 1", e, err)
	}
	if res := h.send(first); !res.Duplicate || res.CurrentEpoch != 1 {
		t.Fatalf("retry = %+v; want a duplicate at epoch 1", res)
	}
	_, err := h.s.Enqueue(ctx, commit(g, 0))
	if cur := staleCurrent(t, err); cur != 1 {
		t.Fatalf("second commit for epoch 0 names epoch %d, want 1", cur)
	}
	h.send(commit(g, 1, d.ID))
	if es := h.pending(d.ID, 0); len(es) != 1 || es[0].Epoch != 1 {
		t.Fatalf("mailbox has %d entries, want the epoch-1 commit only", len(es))
	}
	for _, k := range []store.Kind{store.KindApplication, store.KindProposal, store.KindWelcome} {
		s := app("to nobody")
		s.Kind = k
		_, err := h.s.Enqueue(ctx, s)
		wantErr(t, "a "+k.String()+" without recipients", err, store.ErrInvalid)
	}
}

func testSkipUnregistered(t *testing.T, h *harness) {
	d := h.device(store.AccountID{})
	revoked := h.device(d.Account)
	if err := h.s.RevokeDevice(ctx, revoked.ID); err != nil {
		t.Fatalf("RevokeDevice: %v", err)
	}
	stranger := store.DeviceID{42}
	to := []store.DeviceID{stranger, d.ID, revoked.ID}
	s := app("to whoever is left", to...)
	s.SkipUnregistered = true
	res := h.send(s)
	if res.Skipped != 2 || res.Duplicate {
		t.Fatalf("Result = %+v, want Skipped 2", res)
	}
	if to[0] != stranger || to[2] != revoked.ID {
		t.Fatal("Enqueue changed the caller's recipient slice")
	}
	if es := h.pending(d.ID, 0); len(es) != 1 || string(es[0].Payload) != "to whoever is left" {
		t.Fatalf("the registered recipient has %d entries, want the one Send", len(es))
	}
	if res := h.send(s); !res.Duplicate {
		t.Fatalf("a retry of the same MsgID = %+v, want Duplicate", res)
	}

	// A commit left with nobody still advances its group.
	g := newGroup()
	c := commit(g, 0, stranger)
	c.SkipUnregistered = true
	if res := h.send(c); res.Skipped != 1 || res.CurrentEpoch != 1 {
		t.Fatalf("commit to nobody registered: Result = %+v, want Skipped 1, CurrentEpoch 1", res)
	}
	if e, err := h.s.GroupEpoch(ctx, g); err != nil || e != 1 {
		t.Fatalf("GroupEpoch = %d, %v; want 1", e, err)
	}

	// Any other Send left with nobody is not stored.
	lone := app("to nobody", stranger, revoked.ID)
	lone.SkipUnregistered = true
	if res := h.send(lone); res.Skipped != 2 || res.Duplicate {
		t.Fatalf("Send to nobody registered: Result = %+v, want Skipped 2", res)
	}
	if es := h.pending(d.ID, 0); len(es) != 1 {
		t.Fatalf("the registered device has %d entries, want still 1", len(es))
	}

	// Without the flag, the same Send is refused whole.
	strict := app("strict", d.ID, stranger)
	_, err := h.s.Enqueue(ctx, strict)
	wantErr(t, "Send without SkipUnregistered to an unknown device", err, store.ErrNotFound)
}
