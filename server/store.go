package server

import (
	"context"
	"time"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Store is what the server needs from its durable state. store/sqlite
// satisfies it; its full contract (durability, group commit, the Delivery
// Service's compare-and-advance) is documented on store.Store.
type Store interface {
	PutDevice(ctx context.Context, d store.Device) error
	Device(ctx context.Context, id store.DeviceID) (store.Device, error)
	DevicesOf(ctx context.Context, account store.AccountID) ([]store.Device, error)

	AddKeyPackages(ctx context.Context, device store.DeviceID, oneTime [][]byte, lastResort []byte) error
	ClaimKeyPackage(ctx context.Context, device store.DeviceID) (store.KeyPackage, error)

	Enqueue(ctx context.Context, s store.Send) (store.Result, error)
	Pending(ctx context.Context, device store.DeviceID, afterSeq uint64, limit int) ([]store.Entry, error)
	Ack(ctx context.Context, device store.DeviceID, upToSeq uint64) error
	GroupEpoch(ctx context.Context, group store.GroupHash) (uint64, error)

	ExpireSeen(ctx context.Context, before time.Time) (int64, error)
	ExpireMailbox(ctx context.Context, before time.Time) (int64, error)
}

// The capabilities below are optional: the server uses them when its Store
// has them and otherwise answers the requests that need them with a clear
// error (see the handlers).

// DeviceRevoker deletes a device for RevokeDevice and remembers that it
// was revoked, so that it can never register again with its old
// certificate.
type DeviceRevoker interface {
	// RevokeDevice deletes the device, its key packages and its mailbox,
	// and records its id as revoked. Revoking an unknown or already
	// revoked device is not an error.
	RevokeDevice(ctx context.Context, id store.DeviceID) error
	// DeviceRevoked reports whether id was revoked.
	DeviceRevoked(ctx context.Context, id store.DeviceID) (bool, error)
}

// AsyncEnqueuer queues a Send without waiting for its commit, behind the
// Sends queued before it (store/sqlite's EnqueueAsync). With it, the
// server pipelines the Sends of a session (pipeline.go).
type AsyncEnqueuer interface {
	EnqueueAsync(ctx context.Context, s store.Send) store.PendingSend
}

// KeyPackageCounter counts a device's key packages for KeyPackageCount.
type KeyPackageCounter interface {
	CountKeyPackages(ctx context.Context, device store.DeviceID) (oneTime int, lastResort bool, err error)
}

// GroupInfoStore keeps the latest (sealed, opaque) GroupInfo of a group.
type GroupInfoStore interface {
	// PutGroupInfo replaces the group's GroupInfo if epoch is the group's
	// current Delivery Service epoch, else it returns an error wrapping
	// *store.StaleEpochError; an unknown group is store.ErrNotFound.
	PutGroupInfo(ctx context.Context, group store.GroupHash, epoch uint64, info []byte) error
	// GroupInfo returns the latest GroupInfo, or store.ErrNotFound.
	GroupInfo(ctx context.Context, group store.GroupHash) (epoch uint64, info []byte, err error)
}

// storeAs is the server's store as the optional capability T, or the
// answer (code, missing) for a client of a server whose store lacks it.
func storeAs[T any](s *Server, code wire.ErrorCode, missing string) (T, *wire.Error) {
	st, ok := s.cfg.Store.(T)
	if !ok {
		return st, wire.Errorf(code, "%s", missing)
	}
	return st, nil
}

// withStore is the prologue of a handler that asks a store: it gets the
// capability (its absence is the answer), and runs call with a context
// bounded by the store timeout (Config.StoreTimeout).
func withStore[T any](ss *session, capability func() (T, *wire.Error), call func(ctx context.Context, st T) wire.Message) wire.Message {
	st, e := capability()
	if e != nil {
		return e
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	return call(ctx, st)
}

func (ss *session) channelStore() (store.ChannelStore, *wire.Error) {
	return storeAs[store.ChannelStore](ss.srv, wire.CodeUnavailable, "this server does not host channels")
}

func (ss *session) deviceLists() (store.DeviceListStore, *wire.Error) {
	return storeAs[store.DeviceListStore](ss.srv, wire.CodeInternal, "this server's store keeps no device lists; ask its operator to upgrade")
}

func (ss *session) groupInfos() (GroupInfoStore, *wire.Error) {
	return storeAs[GroupInfoStore](ss.srv, wire.CodeNotFound, "this server does not keep group info yet; rejoin through another member")
}

func (ss *session) keyPackageCounter() (KeyPackageCounter, *wire.Error) {
	return storeAs[KeyPackageCounter](ss.srv, wire.CodeInternal, "this server's store cannot count key packages yet; tell its operator")
}
