package store

import (
	"context"
	"errors"
	"fmt"
)

// MaxDeviceList bounds one stored (signed, opaque) device list.
const MaxDeviceList = 4096

// ErrOldVersion: a device list's version is not newer than the stored one
// (docs/spec/authentication.md §3: the server keeps versions monotonic).
var ErrOldVersion = errors.New("device list version is not newer than the stored one")

// DeviceListStore keeps each account's latest signed device list. The list
// is opaque to the store: clients sign and verify it; the store only keeps
// its version growing.
type DeviceListStore interface {
	// PutDeviceList stores list as account's device list if version is
	// greater than the stored version; the same version with the same bytes
	// again is not an error. Otherwise the error wraps ErrOldVersion.
	PutDeviceList(ctx context.Context, account AccountID, version uint64, list []byte) error
	// DeviceList returns the account's latest list and its version, or
	// ErrNotFound.
	DeviceList(ctx context.Context, account AccountID) (version uint64, list []byte, err error)
}

// ValidateDeviceList checks a device list against the shared limits.
func ValidateDeviceList(version uint64, list []byte) error {
	switch {
	case len(list) == 0:
		return fmt.Errorf("store: doing device list validation: empty list: %w", ErrInvalid)
	case len(list) > MaxDeviceList:
		return fmt.Errorf("store: doing device list validation: %d bytes: %w", len(list), ErrTooLarge)
	case version == 0 || version > 1<<62:
		return fmt.Errorf("store: doing device list validation: version %d out of range: %w", version, ErrInvalid)
	}
	return nil
}
