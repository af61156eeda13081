package storetest

import (
	"bytes"
	"testing"

	"github.com/samizdat-project/samizdat/store"
)

// testDeviceLists: a device list's version only grows; the same version
// with the same bytes is idempotent; it survives a reopen.
func testDeviceLists(t *testing.T, h *harness) {
	ls, ok := h.s.(store.DeviceListStore)
	if !ok {
		t.Fatalf("%T does not implement store.DeviceListStore (docs/spec/authentication.md §3)", h.s)
	}
	acct := store.AccountID{7}
	_, _, err := ls.DeviceList(ctx, acct)
	wantErr(t, "DeviceList of an unknown account", err, store.ErrNotFound)
	if err := ls.PutDeviceList(ctx, acct, 2, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if err := ls.PutDeviceList(ctx, acct, 2, []byte("v2")); err != nil {
		t.Fatalf("the same version again: %v", err)
	}
	wantErr(t, "same version, other bytes", ls.PutDeviceList(ctx, acct, 2, []byte("other")), store.ErrOldVersion)
	wantErr(t, "older version", ls.PutDeviceList(ctx, acct, 1, []byte("v1")), store.ErrOldVersion)
	wantErr(t, "empty list", ls.PutDeviceList(ctx, acct, 3, nil), store.ErrInvalid)
	wantErr(t, "huge list", ls.PutDeviceList(ctx, acct, 3, make([]byte, store.MaxDeviceList+1)), store.ErrTooLarge)
	if err := ls.PutDeviceList(ctx, acct, 5, []byte("v5")); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	ls = h.s.(store.DeviceListStore)
	v, list, err := ls.DeviceList(ctx, acct)
	if err != nil || v != 5 || !bytes.Equal(list, []byte("v5")) {
		t.Fatalf("DeviceList after reopen = %d %q %v, want 5 v5", v, list, err)
	}
}
