// Package store owns what the server keeps on disk: the record types and the
// Store contract that every durable implementation (store/sqlite by default,
// store/postgres for scale) fulfils, plus the input limits and sentinel
// errors they share. The server never sees plaintext or keys, so neither does
// the store: mailbox payloads are opaque MLS messages, and the only group
// state is the Delivery Service's epoch counter (no member lists, no senders).
//
// The conformance suite in store/storetest pins the semantics down; what the
// tables hold is listed in docs/what-the-server-knows.md.
package store

import (
	"context"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// DeviceID is SHA-256 of a device's Ed25519 public key.
type DeviceID [32]byte

// AccountID is SHA-256 of an account's Ed25519 public key.
type AccountID [32]byte

// MsgID is the client's random id of one Send; retries reuse it.
type MsgID [16]byte

// GroupHash is the hash of an MLS group id; the store never learns the id.
type GroupHash [32]byte

// Kind says what an opaque mailbox payload is, as much as the Delivery
// Service needs to know: only commits are ordered per group. It is the
// wire's kind (wire.Kind, docs/spec/wire.md): the store keeps what a Send
// carried, so the two cannot disagree on a value.
type Kind = wire.Kind

// The kinds, as the wire numbers them.
const (
	KindApplication = wire.KindApplication
	KindProposal    = wire.KindProposal
	KindCommit      = wire.KindCommit
	KindWelcome     = wire.KindWelcome
)

// Limits every Store enforces, so the server gets the same clear error
// whichever implementation it runs on.
const (
	MaxPayload        = 1 << 20 // bytes of one mailbox payload
	MaxRecipients     = 10000   // devices one Send may address
	MaxKeyPackage     = 64 << 10
	MaxKeyPackagesAdd = 1000 // one-time KeyPackages per AddKeyPackages call
	MaxDeviceKey      = 1024
	MaxDeviceCert     = 4096
	MaxPendingLimit   = 10000   // entries one Pending call may return
	MaxGroupInfo      = 1 << 20 // bytes of one (sealed, opaque) GroupInfo
)

// Device is a registered device. Key and Cert are public: the device's
// Ed25519 public key and the account key's signature over it.
type Device struct {
	ID        DeviceID
	Account   AccountID
	Key       []byte
	Cert      []byte
	CreatedAt time.Time // set by the store on first registration
}

// KeyPackage is one claimed MLS KeyPackage (opaque to the store).
type KeyPackage struct {
	Data       []byte
	LastResort bool // true: the device's last-resort package, which stays stored
}

// Send is one message for the mailboxes of its recipients.
type Send struct {
	MsgID      MsgID
	Group      GroupHash
	Epoch      uint64 // for KindCommit: the epoch the commit was made in
	Kind       Kind
	Recipients []DeviceID // each must be registered; duplicates are delivered once; empty only for a commit
	Payload    []byte     // opaque; 1..MaxPayload bytes
	// SkipUnregistered leaves out recipients that are not registered
	// (revoked, never existed) instead of refusing the Send with
	// ErrNotFound, so one stale leaf cannot block a group (wire.md §6.4).
	// A Send other than a commit that is left with no recipient is not
	// stored: Result.Skipped says how many were left out.
	SkipUnregistered bool
}

// Result reports how an accepted Send was handled.
type Result struct {
	// Duplicate: the MsgID was seen within the retention window, so nothing
	// new was enqueued; the earlier Send is durable.
	Duplicate bool
	// CurrentEpoch: for commits, the group's epoch after this Send (E+1
	// when it was accepted). On ErrStaleEpoch, the group's current epoch.
	CurrentEpoch uint64
	// Skipped: with Send.SkipUnregistered, how many recipients were left
	// out because they are not registered.
	Skipped int
}

// PendingSend is a Send that a store has queued but may not have committed
// yet (see store/sqlite's EnqueueAsync). It is used by one goroutine.
type PendingSend interface {
	// Ready reports, without waiting, whether the answer has come.
	Ready() bool
	// Wait returns what Enqueue would have, once the Send is committed or
	// refused.
	Wait() (Result, error)
}

// Entry is one message waiting in a device's mailbox.
type Entry struct {
	Seq        uint64 // increases strictly per device, never reused
	MsgID      MsgID
	Group      GroupHash
	Epoch      uint64
	Kind       Kind
	Payload    []byte
	EnqueuedAt time.Time // second precision
}

// Store is the server's durable state. Implementations are safe for
// concurrent use. Every method returns errors that wrap the sentinels of
// errors.go as "store: doing X: %w".
type Store interface {
	// PutDevice registers d, or refreshes its key and certificate when the
	// device is already registered to the same account. A device registered
	// to another account yields ErrDuplicate.
	PutDevice(ctx context.Context, d Device) error
	// Device returns the registered device id, or ErrNotFound.
	Device(ctx context.Context, id DeviceID) (Device, error)
	// DevicesOf returns the devices of account, oldest first (maybe none).
	DevicesOf(ctx context.Context, account AccountID) ([]Device, error)
	// RevokeDevice deletes the device, its KeyPackages and its mailbox, and
	// records its id as revoked for good: PutDevice of that id then fails
	// with ErrRevoked and Sends to it with ErrNotFound. Revoking an unknown
	// or already revoked device is not an error (the id is recorded).
	RevokeDevice(ctx context.Context, id DeviceID) error
	// DeviceRevoked reports whether id was revoked.
	DeviceRevoked(ctx context.Context, id DeviceID) (bool, error)

	// AddKeyPackages stores one-time KeyPackages for device and, when
	// lastResort is not empty, replaces its last-resort KeyPackage.
	// The device must be registered (ErrNotFound).
	AddKeyPackages(ctx context.Context, device DeviceID, oneTime [][]byte, lastResort []byte) error
	// ClaimKeyPackage atomically takes one of device's one-time KeyPackages
	// (oldest first), which no later claim can return again, or else returns
	// (without removing) its last-resort one. None at all: ErrNotFound.
	ClaimKeyPackage(ctx context.Context, device DeviceID) (KeyPackage, error)
	// CountKeyPackages returns how many one-time KeyPackages device has
	// left and whether it has a last-resort one (0, false for an unknown
	// device).
	CountKeyPackages(ctx context.Context, device DeviceID) (oneTime int, lastResort bool, err error)

	// Enqueue appends s to the mailbox of every recipient and returns only
	// once that is durable. It is idempotent per MsgID within the seen-id
	// retention window (Result.Duplicate). A commit may have no recipients
	// (a group's first commit registers the group, wire.md §6.3); every
	// other kind needs at least one. A KindCommit is accepted only if
	// s.Epoch equals the group's epoch or the group is unknown, and then
	// advances the group to s.Epoch+1 in the same transaction; otherwise the
	// error wraps *StaleEpochError (errors.Is ErrStaleEpoch) and nothing is
	// enqueued. An unknown recipient yields ErrNotFound and nothing is
	// enqueued, unless s.SkipUnregistered. If ctx ends first, the Send may or may not have been
	// committed; retrying with the same MsgID is safe.
	Enqueue(ctx context.Context, s Send) (Result, error)
	// Pending returns up to limit entries of device's mailbox with
	// Seq > afterSeq, in Seq order.
	Pending(ctx context.Context, device DeviceID, afterSeq uint64, limit int) ([]Entry, error)
	// Ack deletes device's entries with Seq <= upToSeq. Acking what is
	// already gone is not an error.
	Ack(ctx context.Context, device DeviceID, upToSeq uint64) error
	// Watch returns a channel that receives a value (coalesced, never
	// blocking the store) whenever device's mailbox gets new entries after
	// Watch was called, until stop is called; the signal is sent before the
	// Enqueue that made the news returns. The server does the push.
	Watch(device DeviceID) (news <-chan struct{}, stop func())

	// GroupEpoch returns the Delivery Service's epoch of group, or ErrNotFound.
	GroupEpoch(ctx context.Context, group GroupHash) (uint64, error)
	// PutGroupInfo replaces the group's latest (sealed, opaque) GroupInfo.
	// epoch must be the group's current Delivery Service epoch, else the
	// error wraps *StaleEpochError; an unknown group is ErrNotFound. The
	// check and the write are one transaction with respect to commits.
	PutGroupInfo(ctx context.Context, group GroupHash, epoch uint64, info []byte) error
	// GroupInfo returns the latest GroupInfo and its epoch, or ErrNotFound.
	GroupInfo(ctx context.Context, group GroupHash) (epoch uint64, info []byte, err error)

	// ExpireSeen forgets MsgIDs first seen before the given time (the end of
	// the retention window); a retry after that is delivered again.
	ExpireSeen(ctx context.Context, before time.Time) (int64, error)
	// ExpireMailbox deletes mailbox entries enqueued before the given time,
	// for devices that never came back.
	ExpireMailbox(ctx context.Context, before time.Time) (int64, error)

	// Close stops background work and releases the database. Calls after
	// Close return ErrClosed.
	Close() error
}
