package store

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Sentinel errors. Implementations wrap them as "store: doing X: %w".
var (
	ErrNotFound   = errors.New("not found")
	ErrDuplicate  = errors.New("already exists with different owner")
	ErrStaleEpoch = errors.New("stale epoch: the group has moved on; fetch the newer commits, rebase and resend")
	ErrInvalid    = errors.New("invalid input")
	ErrTooLarge   = errors.New("too large")
	ErrClosed     = errors.New("store is closed")
	ErrRevoked    = errors.New("device was revoked; register a new device key")
)

// IsFull reports whether err says the store's disk (or database) is full:
// ENOSPC, SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100). The server
// answers such an error with CodeStorageFull, a retryable error, rather
// than an internal one.
func IsFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"database or disk is full", "SQLITE_FULL", "no space left on device", "(SQLSTATE 53100)", "could not extend file"} {
		if strings.Contains(strings.ToLower(msg), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

// StaleEpochError is the error of a commit for an epoch that is not the
// group's current one. errors.Is(err, ErrStaleEpoch) holds.
type StaleEpochError struct {
	Current uint64 // the group's epoch now
	Sent    uint64 // the epoch the rejected commit was made in
}

func (e *StaleEpochError) Error() string {
	return fmt.Sprintf("commit for epoch %d rejected, group is at epoch %d: %v", e.Sent, e.Current, ErrStaleEpoch)
}

func (e *StaleEpochError) Is(target error) bool { return target == ErrStaleEpoch }

// ValidateSend checks s against the shared limits, so that every Store
// rejects the same inputs with the same errors before touching its database.
func ValidateSend(s *Send) error {
	switch {
	case !s.Kind.Valid():
		return fmt.Errorf("store: doing send validation: kind %d: %w", s.Kind, ErrInvalid)
	case len(s.Recipients) == 0 && s.Kind != KindCommit:
		// Only a commit may go to nobody: it still advances the group's
		// epoch (wire.md §6.3, a group's first commit).
		return fmt.Errorf("store: doing send validation: no recipients for a %v: %w", s.Kind, ErrInvalid)
	case len(s.Recipients) > MaxRecipients:
		return fmt.Errorf("store: doing send validation: %d recipients, at most %d: %w", len(s.Recipients), MaxRecipients, ErrTooLarge)
	case len(s.Payload) == 0:
		return fmt.Errorf("store: doing send validation: empty payload: %w", ErrInvalid)
	case len(s.Payload) > MaxPayload:
		return fmt.Errorf("store: doing send validation: payload of %d bytes, at most %d: %w", len(s.Payload), MaxPayload, ErrTooLarge)
	case s.Kind == KindCommit && s.Epoch == ^uint64(0):
		return fmt.Errorf("store: doing send validation: commit epoch overflows: %w", ErrInvalid)
	}
	return nil
}

// UniqueRecipients returns rs without repeats, in first-seen order.
func UniqueRecipients(rs []DeviceID) []DeviceID {
	if len(rs) < 2 {
		return rs
	}
	seen := make(map[DeviceID]struct{}, len(rs))
	out := make([]DeviceID, 0, len(rs))
	for _, r := range rs {
		if _, ok := seen[r]; !ok {
			seen[r] = struct{}{}
			out = append(out, r)
		}
	}
	return out
}

// ValidateDevice checks d against the shared limits.
func ValidateDevice(d *Device) error {
	switch {
	case len(d.Key) == 0 || len(d.Key) > MaxDeviceKey:
		return fmt.Errorf("store: doing device validation: key of %d bytes: %w", len(d.Key), ErrInvalid)
	case len(d.Cert) == 0 || len(d.Cert) > MaxDeviceCert:
		return fmt.Errorf("store: doing device validation: certificate of %d bytes: %w", len(d.Cert), ErrInvalid)
	}
	return nil
}

// ValidateKeyPackages checks an AddKeyPackages call against the shared limits.
func ValidateKeyPackages(oneTime [][]byte, lastResort []byte) error {
	if len(oneTime) == 0 && len(lastResort) == 0 {
		return fmt.Errorf("store: doing key package validation: nothing to add: %w", ErrInvalid)
	}
	if len(oneTime) > MaxKeyPackagesAdd {
		return fmt.Errorf("store: doing key package validation: %d key packages, at most %d per call: %w", len(oneTime), MaxKeyPackagesAdd, ErrTooLarge)
	}
	for i, kp := range oneTime {
		if len(kp) == 0 {
			return fmt.Errorf("store: doing key package validation: key package %d is empty: %w", i, ErrInvalid)
		}
		if len(kp) > MaxKeyPackage {
			return fmt.Errorf("store: doing key package validation: key package %d has %d bytes, at most %d: %w", i, len(kp), MaxKeyPackage, ErrTooLarge)
		}
	}
	if len(lastResort) > MaxKeyPackage {
		return fmt.Errorf("store: doing key package validation: last-resort key package has %d bytes, at most %d: %w", len(lastResort), MaxKeyPackage, ErrTooLarge)
	}
	return nil
}

// ValidateGroupInfo checks a PutGroupInfo call against the shared limits.
func ValidateGroupInfo(info []byte) error {
	switch {
	case len(info) == 0:
		return fmt.Errorf("store: doing group info validation: empty group info: %w", ErrInvalid)
	case len(info) > MaxGroupInfo:
		return fmt.Errorf("store: doing group info validation: %d bytes, at most %d: %w", len(info), MaxGroupInfo, ErrTooLarge)
	}
	return nil
}

// ValidateLimit checks a Pending limit.
func ValidateLimit(limit int) error {
	if limit <= 0 || limit > MaxPendingLimit {
		return fmt.Errorf("store: doing pending validation: limit %d not in 1..%d: %w", limit, MaxPendingLimit, ErrInvalid)
	}
	return nil
}
