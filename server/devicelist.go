package server

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Signed device lists (docs/spec/authentication.md §3). The server keeps
// each account's latest list as opaque bytes: it checks only that the
// publishing device is registered to the account and that the version
// grows. Clients sign and verify the list and refuse older versions, so a
// server that rolls a list back is caught by them, not trusted here.

// dispatchDeviceList answers the device list requests (the session's
// device is registered).
func (ss *session) dispatchDeviceList(m wire.Message) (wire.Message, bool) {
	switch m := m.(type) {
	case *wire.PublishDeviceList:
		return ss.publishDeviceList(m), true
	case *wire.FetchDeviceList:
		return ss.fetchDeviceList(m), true
	}
	return nil, false
}

func (ss *session) publishDeviceList(m *wire.PublishDeviceList) wire.Message {
	return withStore(ss, ss.deviceLists, func(ctx context.Context, ls store.DeviceListStore) wire.Message {
		// Only a device of the account publishes its list (the list itself
		// is signed by the account key; clients check that).
		d, err := ss.srv.cfg.Store.Device(ctx, ss.device)
		if err != nil {
			return ss.storeError("device lookup", err)
		}
		acct := sha256.Sum256(m.AccountKey[:])
		if d.Account != acct {
			return wire.Errorf(wire.CodeUnauthorized, "this device is not registered to that account")
		}
		if err := ls.PutDeviceList(ctx, acct, m.Version, m.List); err != nil {
			if errors.Is(err, store.ErrOldVersion) {
				return wire.Errorf(wire.CodeConflict, "the device list's version is not newer than the stored one; fetch it, merge and publish the next version")
			}
			return ss.storeError("publish device list", err)
		}
		return &wire.OK{}
	})
}

func (ss *session) fetchDeviceList(m *wire.FetchDeviceList) wire.Message {
	return withStore(ss, ss.deviceLists, func(ctx context.Context, ls store.DeviceListStore) wire.Message {
		v, list, err := ls.DeviceList(ctx, sha256.Sum256(m.AccountKey[:]))
		if err != nil {
			return ss.storeError("fetch device list", err)
		}
		return &wire.DeviceList{AccountKey: m.AccountKey, Version: v, List: list}
	})
}
