package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Signed-message contexts (docs/spec/wire.md §3, "Accounts and devices").
const (
	deviceCertContext = "samizdat device v1"
	revokeContext     = "samizdat revoke v1"
)

// dispatch answers one request after the hello. after, if not nil, runs
// once the answer is sent (to start pushes, or to close the session).
func (ss *session) dispatch(m wire.Message) (resp wire.Message, after func()) {
	switch m := m.(type) {
	case *wire.Ping:
		return &wire.Pong{}, nil
	case *wire.RegisterDevice:
		return ss.registerDevice(m), nil
	case *wire.RevokeDevice:
		return ss.revokeDevice(m)
	case *wire.RegisterRelay:
		return ss.registerRelay(m), nil // relayreg.go: the token, not a device
	case *wire.GetChunk:
		// blob.go: a chunk is ciphertext addressed by its hash; channel
		// readers and mirrors fetch a media post's chunks with throwaway
		// keys (docs/spec/channels.md §3a), so no device is needed.
		resp, buf := ss.readChunk(m)
		return resp, func() { putChunkBuffer(buf) } // once the answer is sent
	}
	if resp, after, ok := ss.dispatchChannel(m); ok { // channel.go: public, no device needed
		return resp, after
	}
	if resp, ok := ss.dispatchLink(m); ok { // link_device.go: device linking
		return resp, nil
	}
	if e := ss.needDevice(); e != nil {
		return e, nil
	}
	if resp, ok := ss.dispatchDeviceList(m); ok { // devicelist.go
		return resp, nil
	}
	if resp, ok := ss.dispatchDistribution(m); ok { // distribution_session.go
		return resp, nil
	}
	switch m := m.(type) {
	case *wire.LookupAccount:
		return ss.lookupAccount(m), nil
	case *wire.PublishKeyPackages:
		return ss.publishKeyPackages(m), nil
	case *wire.CountKeyPackages:
		return ss.countKeyPackages(), nil
	case *wire.ClaimKeyPackages:
		return ss.claimKeyPackages(m), nil
	case *wire.Send:
		return ss.send(m), nil
	case *wire.Subscribe:
		return ss.subscribe()
	case *wire.AckDelivery:
		if m.UpToSeq == 0 { // acknowledges nothing: asks for CaughtUp (wire.md §6.6a)
			return &wire.OK{}, ss.askCaughtUp
		}
		return ss.ackDelivery(m), nil
	case *wire.PublishGroupInfo:
		return ss.publishGroupInfo(m), nil
	case *wire.FetchGroupInfo:
		return ss.fetchGroupInfo(m), nil
	case *wire.FetchBook:
		return ss.fetchBook(m), nil // reach.go
	}
	if resp, ok := ss.dispatchBlob(m); ok { // blob.go: attachment chunks
		return resp, nil
	}
	return wire.Errorf(wire.CodeBadRequest, "%v is not a request this server handles", m.Type()), nil
}

// needDevice checks that the session's device is registered.
func (ss *session) needDevice() *wire.Error {
	if ss.registered {
		return nil
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	_, err := ss.srv.cfg.Store.Device(ctx, ss.device)
	if err == nil {
		ss.registered = true
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return ss.storeError("device lookup", err)
	}
	if ss.isRevoked() {
		return wire.Errorf(wire.CodeDeviceRevoked, "this device was revoked from its account")
	}
	return wire.Errorf(wire.CodeUnauthorized, "this device is not registered; send RegisterDevice first")
}

// isRevoked reports whether the session's device was revoked (false if the
// store cannot tell).
func (ss *session) isRevoked() bool {
	r, ok := ss.srv.cfg.Store.(DeviceRevoker)
	if !ok {
		return false
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	revoked, err := r.DeviceRevoked(ctx, ss.device)
	return err == nil && revoked
}

func (ss *session) registerDevice(m *wire.RegisterDevice) wire.Message {
	// The device key is the one securechan authenticated, never a claimed one.
	msg := append([]byte(deviceCertContext), ss.key[:]...)
	if !ed25519.Verify(ed25519.PublicKey(m.AccountKey[:]), msg, m.DeviceCert[:]) {
		return wire.Errorf(wire.CodeUnauthorized, "the device certificate is not the account key's signature over this session's device key")
	}
	if ss.isRevoked() {
		return wire.Errorf(wire.CodeDeviceRevoked, "this device was revoked from its account; create a new device key")
	}
	if e := ss.checkFree(4096); e != nil {
		return e
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	err := ss.srv.cfg.Store.PutDevice(ctx, store.Device{
		ID: ss.device, Account: sha256.Sum256(m.AccountKey[:]),
		Key: append([]byte(nil), ss.key[:]...), Cert: append([]byte(nil), m.DeviceCert[:]...),
	})
	if err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return wire.Errorf(wire.CodeConflict, "this device key is registered to another account; create a new device key")
		}
		if errors.Is(err, store.ErrRevoked) {
			return wire.Errorf(wire.CodeDeviceRevoked, "this device was revoked from its account; create a new device key")
		}
		return ss.storeError("register device", err)
	}
	ss.registered = true
	return &wire.OK{}
}

func (ss *session) revokeDevice(m *wire.RevokeDevice) (wire.Message, func()) {
	msg := append([]byte(revokeContext), m.DeviceKey[:]...)
	if !ed25519.Verify(ed25519.PublicKey(m.AccountKey[:]), msg, m.Signature[:]) {
		return wire.Errorf(wire.CodeUnauthorized, "the revocation is not the account key's signature over the device key"), nil
	}
	r, ok := ss.srv.cfg.Store.(DeviceRevoker)
	if !ok {
		return wire.Errorf(wire.CodeInternal, "this server's store cannot revoke devices yet; tell its operator"), nil
	}
	id := store.DeviceID(sha256.Sum256(m.DeviceKey[:]))
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	d, err := ss.srv.cfg.Store.Device(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if revoked, err := r.DeviceRevoked(ctx, id); err == nil && revoked {
			return &wire.OK{}, nil // already revoked: idempotent
		}
		return wire.Errorf(wire.CodeNotFound, "no such device is registered"), nil
	case err != nil:
		return ss.storeError("device lookup", err), nil
	case d.Account != store.AccountID(sha256.Sum256(m.AccountKey[:])):
		return wire.Errorf(wire.CodeNotFound, "no such device is registered to this account"), nil
	}
	if err := r.RevokeDevice(ctx, id); err != nil {
		return ss.storeError("revoke device", err), nil
	}
	ss.srv.quota.shrunk(&id)
	ss.srv.log.Info("device revoked")
	return &wire.OK{}, func() { ss.srv.hub.revoked(id) }
}

func (ss *session) lookupAccount(m *wire.LookupAccount) wire.Message {
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	devs, err := ss.srv.cfg.Store.DevicesOf(ctx, sha256.Sum256(m.AccountKey[:]))
	if err != nil {
		return ss.storeError("lookup account", err)
	}
	out := &wire.Devices{AccountKey: m.AccountKey}
	for _, d := range devs {
		if len(d.Key) != len(wire.DeviceKey{}) || len(d.Cert) != len(wire.Signature{}) || len(out.Devices) == wire.MaxDevices {
			continue
		}
		var e wire.DeviceEntry
		copy(e.DeviceKey[:], d.Key)
		copy(e.DeviceCert[:], d.Cert)
		out.Devices = append(out.Devices, e)
	}
	if len(out.Devices) == 0 {
		return wire.Errorf(wire.CodeNotFound, "this account has no registered device")
	}
	return out
}

func (ss *session) publishKeyPackages(m *wire.PublishKeyPackages) wire.Message {
	l := ss.srv.cfg.Limits
	// The server cannot parse MLS (layout rule): it checks counts and
	// sizes; clients verify every KeyPackage they claim.
	if len(m.KeyPackages) > int(l.MaxKeyPackages) {
		return wire.Errorf(wire.CodeTooLarge, "%d key packages in one request; this server takes at most %d", len(m.KeyPackages), l.MaxKeyPackages)
	}
	for i, kp := range append(m.KeyPackages, m.LastResort) {
		if len(kp) > int(l.MaxKeyPackageSize) {
			return wire.Errorf(wire.CodeTooLarge, "key package %d has %d bytes; this server takes at most %d", i, len(kp), l.MaxKeyPackageSize)
		}
	}
	if e := ss.checkFree(int64(len(m.KeyPackages)) * int64(l.MaxKeyPackageSize)); e != nil {
		return e
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	if err := ss.srv.cfg.Store.AddKeyPackages(ctx, ss.device, m.KeyPackages, m.LastResort); err != nil {
		return ss.storeError("add key packages", err)
	}
	if _, ok := ss.srv.cfg.Store.(KeyPackageCounter); !ok {
		// The packages are stored; without a counter the answer can only
		// be a lower bound: what this request added.
		return &wire.KeyPackageCount{OneTime: uint32(len(m.KeyPackages)), LastResort: len(m.LastResort) > 0}
	}
	return ss.countKeyPackages()
}

func (ss *session) countKeyPackages() wire.Message {
	return withStore(ss, ss.keyPackageCounter, func(ctx context.Context, c KeyPackageCounter) wire.Message {
		n, lastResort, err := c.CountKeyPackages(ctx, ss.device)
		if err != nil {
			return ss.storeError("count key packages", err)
		}
		return &wire.KeyPackageCount{OneTime: uint32(max(0, n)), LastResort: lastResort}
	})
}

func (ss *session) claimKeyPackages(m *wire.ClaimKeyPackages) wire.Message {
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	devs, err := ss.srv.cfg.Store.DevicesOf(ctx, sha256.Sum256(m.AccountKey[:]))
	if err != nil {
		return ss.storeError("claim key packages", err)
	}
	want := make(map[wire.DeviceID]bool, len(m.Devices))
	for _, id := range m.Devices {
		want[id] = true
	}
	out := &wire.KeyPackages{}
	for _, d := range devs {
		if (len(want) > 0 && !want[wire.DeviceID(d.ID)]) || len(out.KeyPackages) == wire.MaxDevices {
			continue
		}
		kp, err := ss.srv.cfg.Store.ClaimKeyPackage(ctx, d.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return ss.storeError("claim key package", err)
		}
		if len(kp.Data) == 0 || len(kp.Data) > wire.MaxKeyPackageSize {
			continue
		}
		out.KeyPackages = append(out.KeyPackages, wire.ClaimedKeyPackage{
			DeviceID: wire.DeviceID(d.ID), LastResort: kp.LastResort, KeyPackage: kp.Data})
	}
	if len(out.KeyPackages) == 0 {
		return wire.Errorf(wire.CodeNotFound, "no key packages left for these devices; ask the contact to open their app")
	}
	return out
}

func (ss *session) send(m *wire.Send) wire.Message {
	snd, e := ss.prepareSend(m)
	if e != nil {
		return e
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	start := time.Now()
	res, err := ss.srv.cfg.Store.Enqueue(ctx, snd)
	ss.srv.metrics.enqueueSeconds.observe(time.Since(start).Seconds())
	return ss.finishSend(m.MsgID, snd.Kind, snd.Recipients, len(snd.Payload), res, err)
}

// prepareSend checks a Send against the limits and turns it into the
// store's. Recipients that are not registered (revoked, never existed) are
// skipped, so one stale leaf cannot block a group (wire.md §6.4).
func (ss *session) prepareSend(m *wire.Send) (store.Send, *wire.Error) {
	l := ss.srv.cfg.Limits
	if len(m.Payload) > int(l.MaxPayload) {
		return store.Send{}, wire.Errorf(wire.CodeTooLarge, "payload of %d bytes; this server takes at most %d", len(m.Payload), l.MaxPayload)
	}
	if len(m.Recipients) > int(l.MaxRecipients) {
		return store.Send{}, wire.Errorf(wire.CodeTooLarge, "%d recipients; this server takes at most %d", len(m.Recipients), l.MaxRecipients)
	}
	snd := store.Send{MsgID: store.MsgID(m.MsgID), Group: store.GroupHash(m.Group), Epoch: m.Epoch,
		Kind: store.Kind(m.Kind), Payload: m.Payload, Recipients: make([]store.DeviceID, len(m.Recipients)),
		SkipUnregistered: true}
	for i, r := range m.Recipients {
		snd.Recipients[i] = store.DeviceID(r)
	}
	if e := ss.checkSend(&snd); e != nil { // quota.go
		return store.Send{}, e
	}
	return snd, nil
}

// finishSend answers a Send the store has committed or refused, and wakes
// the pushes of its recipients.
func (ss *session) finishSend(id wire.MsgID, kind store.Kind, recipients []store.DeviceID, size int, res store.Result, err error) wire.Message {
	s := ss.srv
	if err != nil {
		var stale *store.StaleEpochError
		if errors.As(err, &stale) {
			s.metrics.StaleEpoch.Add(1)
			return wire.StaleEpoch(stale.Current)
		}
		return ss.storeError("enqueue", err)
	}
	switch {
	case res.Duplicate:
		s.metrics.SendsDuplicate.Add(1)
	case res.Skipped == len(recipients) && kind != store.KindCommit:
		// Nobody registered was left to deliver to; nothing was stored.
	default:
		s.quota.added(recipients, size)
		s.hub.notify(recipients) // a skipped device has no session to wake
		s.notifyElsewhere(recipients)
	}
	s.metrics.SendsAcked.Add(1)
	return &wire.Ack{MsgID: id}
}

func (ss *session) ackDelivery(m *wire.AckDelivery) wire.Message {
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	if err := ss.srv.cfg.Store.Ack(ctx, ss.device, m.UpToSeq); err != nil {
		return ss.storeError("ack", err)
	}
	ss.srv.quota.shrunk(&ss.device)
	ss.acked(m.UpToSeq)
	return &wire.OK{}
}

func (ss *session) publishGroupInfo(m *wire.PublishGroupInfo) wire.Message {
	if len(m.GroupInfo) > int(ss.srv.cfg.Limits.MaxGroupInfoSize) {
		return wire.Errorf(wire.CodeTooLarge, "group info of %d bytes; this server takes at most %d", len(m.GroupInfo), ss.srv.cfg.Limits.MaxGroupInfoSize)
	}
	if e := ss.checkFree(int64(len(m.GroupInfo))); e != nil {
		return e
	}
	return withStore(ss, ss.groupInfos, func(ctx context.Context, g GroupInfoStore) wire.Message {
		if err := g.PutGroupInfo(ctx, store.GroupHash(m.Group), m.Epoch, m.GroupInfo); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return wire.Errorf(wire.CodeNotFound, "the Delivery Service has no commit for this group yet; send the commit first")
			}
			return ss.storeError("publish group info", err)
		}
		return &wire.OK{}
	})
}

func (ss *session) fetchGroupInfo(m *wire.FetchGroupInfo) wire.Message {
	return withStore(ss, ss.groupInfos, func(ctx context.Context, g GroupInfoStore) wire.Message {
		epoch, info, err := g.GroupInfo(ctx, store.GroupHash(m.Group))
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return wire.Errorf(wire.CodeNotFound, "no group info was published for this group")
			}
			return ss.storeError("fetch group info", err)
		}
		return &wire.GroupInfo{Group: m.Group, Epoch: epoch, GroupInfo: bytes.Clone(info)}
	})
}

// storeError turns a store failure into the protocol error that tells the
// client what to do, and logs the unexpected ones (store errors carry no
// payloads or keys).
func (ss *session) storeError(op string, err error) *wire.Error {
	var stale *store.StaleEpochError
	switch {
	case errors.As(err, &stale):
		ss.srv.metrics.StaleEpoch.Add(1)
		return wire.StaleEpoch(stale.Current)
	case errors.Is(err, store.ErrNotFound):
		return wire.Errorf(wire.CodeNotFound, "%s: not found", op)
	case errors.Is(err, store.ErrDuplicate):
		return wire.Errorf(wire.CodeConflict, "%s: conflicts with what the server has", op)
	case errors.Is(err, store.ErrTooLarge):
		return wire.Errorf(wire.CodeTooLarge, "%s: too large for this server", op)
	case errors.Is(err, store.ErrInvalid):
		return wire.Errorf(wire.CodeBadRequest, "%s: %v", op, err)
	case errors.Is(err, store.ErrClosed):
		e := wire.Errorf(wire.CodeUnavailable, "the server is shutting down; reconnect")
		e.RetryAfter = 5
		return e
	case store.IsFull(err):
		return ss.refuse(wire.CodeStorageFull, "store: disk full", 60,
			"the server is out of space; your message waits on your device and goes out when the operator frees space")
	}
	ss.srv.log.Error("store failed", "op", op, "err", err)
	e := wire.Errorf(wire.CodeInternal, "%s failed on the server; retry later", op)
	e.RetryAfter = 5
	return e
}
