package mls

import (
	"errors"
	"fmt"
)

// Sentinel errors. Validation failures are *ValidationError values that
// wrap one of these where a caller may want to branch on the kind.
var (
	// ErrWrongEpoch: a message is for another epoch than the group's.
	ErrWrongEpoch = errors.New("mls: message for another epoch")
	// ErrWrongGroup: a message is for another group.
	ErrWrongGroup = errors.New("mls: message for another group")
	// ErrBadSignature: a signature does not verify.
	ErrBadSignature = errors.New("mls: invalid signature")
	// ErrBadMembershipTag: a PublicMessage membership tag does not verify.
	ErrBadMembershipTag = errors.New("mls: invalid membership tag")
	// ErrBadConfirmationTag: a commit's confirmation tag does not verify.
	ErrBadConfirmationTag = errors.New("mls: invalid confirmation tag")
	// ErrDecrypt: a ciphertext does not open.
	ErrDecrypt = errors.New("mls: decryption failed")
	// ErrReplay: a message generation was already consumed.
	ErrReplay = errors.New("mls: message key already used (replay)")
	// ErrPendingCommit: an operation is refused while a commit is pending.
	ErrPendingCommit = errors.New("mls: a commit is pending; merge or clear it first")
	// ErrNoPendingCommit: MergePendingCommit without a pending commit.
	ErrNoPendingCommit = errors.New("mls: no pending commit")
	// ErrInactive: the group was left, or re-initialized.
	ErrInactive = errors.New("mls: group is no longer active")
	// ErrOwnCommit: Process was given a commit this client sent; use
	// MergePendingCommit instead.
	ErrOwnCommit = errors.New("mls: own commit; call MergePendingCommit")
	// ErrNotForUs: a Welcome has no secrets for our KeyPackage.
	ErrNotForUs = errors.New("mls: welcome is not for this key package")
	// ErrUnknownPSK: a PSK is not available.
	ErrUnknownPSK = errors.New("mls: unknown pre-shared key")
	// ErrMalformed: a message does not parse.
	ErrMalformed = errors.New("mls: malformed message")
	// ErrConfig: a Config value is out of range (Config.Validate).
	ErrConfig = errors.New("mls: invalid configuration")
	// ErrPolicy: the group policy refused a proposal or an external join
	// of a non-member (Config.Policy, docs/spec/mls-policy.md).
	ErrPolicy = errors.New("mls: refused by the group policy")
	// ErrUnsupported: a cipher suite, version or feature is not supported.
	ErrUnsupported = errors.New("mls: unsupported")
)

// ValidationError reports which RFC 9420 check failed.
type ValidationError struct {
	Section string // e.g. "12.2"
	Reason  string // what was wrong, never a secret
	Err     error  // an optional sentinel or cause
}

func (e *ValidationError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("mls: RFC 9420 §%s: %s: %v", e.Section, e.Reason, e.Err)
	}
	return fmt.Sprintf("mls: RFC 9420 §%s: %s", e.Section, e.Reason)
}

// Unwrap returns the wrapped sentinel or cause.
func (e *ValidationError) Unwrap() error { return e.Err }

// invalid builds a *ValidationError.
func invalid(section, reason string) error {
	return &ValidationError{Section: section, Reason: reason}
}

// invalidErr builds a *ValidationError wrapping err.
func invalidErr(section, reason string, err error) error {
	return &ValidationError{Section: section, Reason: reason, Err: err}
}
