package server_test

import (
	"bytes"
	"testing"

	"github.com/samizdat-project/samizdat/wire"
)

// TestDeviceListPublishAndFetch: only a device of the account publishes its
// list, versions only grow, and anyone gets the latest back unchanged.
func TestDeviceListPublishAndFetch(t *testing.T) {
	ts := startServer(t, nil)
	alice := newIdentity(newAccount())
	mallory := newIdentity(newAccount())
	a := connect(t, ts, alice)
	m := connect(t, ts, mallory)

	m.wantError(&wire.FetchDeviceList{AccountKey: alice.accountKey()}, wire.CodeNotFound)
	// Mallory's device is not alice's: it cannot publish her list.
	m.wantError(&wire.PublishDeviceList{AccountKey: alice.accountKey(), Version: 1, List: []byte("forged")}, wire.CodeUnauthorized)
	a.must(&wire.PublishDeviceList{AccountKey: alice.accountKey(), Version: 2, List: []byte("v2")}, wire.TypeOK)
	a.must(&wire.PublishDeviceList{AccountKey: alice.accountKey(), Version: 2, List: []byte("v2")}, wire.TypeOK)
	a.wantError(&wire.PublishDeviceList{AccountKey: alice.accountKey(), Version: 1, List: []byte("v1")}, wire.CodeConflict)
	a.wantError(&wire.PublishDeviceList{AccountKey: alice.accountKey(), Version: 2, List: []byte("other")}, wire.CodeConflict)
	got := m.must(&wire.FetchDeviceList{AccountKey: alice.accountKey()}, wire.TypeDeviceList).(*wire.DeviceList)
	if got.Version != 2 || !bytes.Equal(got.List, []byte("v2")) || got.AccountKey != alice.accountKey() {
		t.Fatalf("fetched %+v", got)
	}
}
