package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Quotas bound what the server stores for whom (docs/operator-guide.md,
// "Quotas and limits"). A zero field takes its default; -1 turns it off.
// Over a quota a write is refused with wire.CodeQuotaExceeded; short of the
// disk reserve with wire.CodeStorageFull. Both are retryable: the client
// keeps the message and sends it again later. Nothing already acknowledged
// is ever dropped to make room.
type Quotas struct {
	// SendBytes caps one Send's recipients x payload bytes: what it costs
	// the disk, since each recipient's mailbox holds its own copy.
	SendBytes int64
	// MailboxBytes caps the payload bytes waiting in one device's mailbox.
	MailboxBytes int64
	// AccountBytes caps the payload bytes waiting in the mailboxes of all
	// the devices of one account.
	AccountBytes int64
	// DataDir is where the store keeps its files; the free-space guard
	// watches its file system. Empty: no guard.
	DataDir string
	// ReserveBytes is the free space the guard keeps: a write that would
	// leave less is refused.
	ReserveBytes int64
	// FreeBytes reports the free space (statfs of DataDir if nil; tests
	// inject their own).
	FreeBytes func() (uint64, error)
}

// Quota defaults.
const (
	DefaultSendBytes    = 64 << 20
	DefaultMailboxBytes = 512 << 20
	DefaultAccountBytes = 2 << 30
	DefaultReserveBytes = 256 << 20
)

func (q *Quotas) setDefaults() {
	for _, f := range []struct {
		v   *int64
		def int64
	}{{&q.SendBytes, DefaultSendBytes}, {&q.MailboxBytes, DefaultMailboxBytes}, {&q.AccountBytes, DefaultAccountBytes}, {&q.ReserveBytes, DefaultReserveBytes}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if q.FreeBytes == nil && q.DataDir != "" {
		dir := q.DataDir
		q.FreeBytes = func() (uint64, error) { return freeBytes(dir) }
	}
}

// MailboxByteCounter is what the quotas need from a Store: the bytes
// waiting in a mailbox (store/sqlite and store/postgres have it). Without
// it the mailbox and account quotas are off.
type MailboxByteCounter interface {
	MailboxBytes(ctx context.Context, device store.DeviceID) (int64, error)
}

// maxQuotaEntries bounds the quota cache; past it the cache starts over.
const maxQuotaEntries = 1 << 20

// quotaState caches what the mailboxes hold. A device's usage is read from
// the store when first needed, raised by every Send to it the server
// acknowledges, and read again after an Ack or an expiry lowered it. Two
// Sends checked at the same moment may together pass a quota by up to one
// Send each: the quotas are soft by that much, the disk reserve is not
// affected.
type quotaState struct {
	q Quotas

	mu       sync.Mutex                         // guards the maps
	usage    map[store.DeviceID]int64           // bytes waiting, as far as known
	accounts map[store.DeviceID]store.AccountID // device -> account (never changes)
	members  map[store.AccountID][]store.DeviceID
}

func newQuotaState(q Quotas) *quotaState {
	st := &quotaState{q: q}
	st.reset()
	return st
}

func (st *quotaState) reset() {
	st.usage = make(map[store.DeviceID]int64)
	st.accounts = make(map[store.DeviceID]store.AccountID)
	st.members = make(map[store.AccountID][]store.DeviceID)
}

// forget drops what is known of a device's usage (after an Ack, a
// revocation) or, for nil, of every device (after an expiry).
func (st *quotaState) forget(device *store.DeviceID) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if device == nil {
		clear(st.usage)
		return
	}
	delete(st.usage, *device)
	if acc, ok := st.accounts[*device]; ok {
		delete(st.members, acc) // the account's device list may have changed too
	}
}

// added records an acknowledged Send of size bytes to recipients.
func (st *quotaState) added(recipients []store.DeviceID, size int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range recipients {
		if n, ok := st.usage[r]; ok {
			st.usage[r] = n + int64(size)
		}
	}
}

// checkSend refuses a Send that the disk reserve or a quota does not
// allow; nil lets it through.
func (ss *session) checkSend(snd *store.Send) *wire.Error {
	s := ss.srv
	q := &s.quota.q
	recipients := store.UniqueRecipients(snd.Recipients)
	cost := int64(len(recipients)) * int64(len(snd.Payload))
	if q.SendBytes > 0 && cost > q.SendBytes {
		return ss.refuse(wire.CodeQuotaExceeded, "send budget", 0,
			"this message would store %d bytes (%d recipients x %d bytes); this server allows %d per message: send it to fewer devices at once, or make it smaller",
			cost, len(recipients), len(snd.Payload), q.SendBytes)
	}
	if e := ss.checkFree(cost); e != nil {
		return e
	}
	counter, ok := s.cfg.Store.(MailboxByteCounter)
	if !ok || (q.MailboxBytes <= 0 && q.AccountBytes <= 0) {
		return nil
	}
	ctx, cancel := s.storeCtx()
	defer cancel()
	size := int64(len(snd.Payload))
	perAccount := map[store.AccountID]int64{}
	for _, r := range recipients {
		used, acc, known, err := s.quota.deviceUsage(ctx, s.cfg.Store, counter, r)
		if err != nil {
			return ss.storeError("quota", err)
		}
		if !known {
			continue // not registered: the store skips it
		}
		if q.MailboxBytes > 0 && used+size > q.MailboxBytes {
			return ss.refuse(wire.CodeQuotaExceeded, "mailbox quota", 60,
				"a recipient's mailbox on this server is full (%d bytes waiting; quota %d): the message waits on your device until they read theirs", used, q.MailboxBytes)
		}
		perAccount[acc] += size
	}
	if q.AccountBytes <= 0 {
		return nil
	}
	for acc, add := range perAccount {
		used, err := s.quota.accountUsage(ctx, s.cfg.Store, counter, acc)
		if err != nil {
			return ss.storeError("quota", err)
		}
		if used+add > q.AccountBytes {
			return ss.refuse(wire.CodeQuotaExceeded, "account quota", 60,
				"a recipient's account on this server is full (%d bytes waiting; quota %d): the message waits on your device until they read theirs", used, q.AccountBytes)
		}
	}
	return nil
}

// checkFree refuses a write of about n bytes that would leave less free
// space than the reserve.
func (ss *session) checkFree(n int64) *wire.Error {
	q := &ss.srv.quota.q
	if q.FreeBytes == nil || q.ReserveBytes <= 0 {
		return nil
	}
	free, err := q.FreeBytes()
	if err != nil {
		ss.srv.refusals.log("free-space guard: cannot read free space", "err", err)
		return nil // an unknown is not a refusal; the store reports a real full disk
	}
	if int64(free)-n < q.ReserveBytes {
		return ss.refuse(wire.CodeStorageFull, "disk reserve", 60,
			"the server is out of space; your message waits on your device and goes out when the operator frees space")
	}
	return nil
}

// refuse counts, logs (reason only) and builds a refusal.
func (ss *session) refuse(code wire.ErrorCode, reason string, retryAfter uint32, format string, args ...any) *wire.Error {
	ss.srv.metrics.Refused.Add(1)
	ss.srv.refusals.log(reason, "code", code.String())
	e := wire.Errorf(code, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// deviceUsage returns the bytes waiting for device and its account; known
// is false for a device that is not registered.
func (st *quotaState) deviceUsage(ctx context.Context, s Store, c MailboxByteCounter, device store.DeviceID) (used int64, acc store.AccountID, known bool, err error) {
	st.mu.Lock()
	used, haveUsage := st.usage[device]
	acc, haveAcc := st.accounts[device]
	st.mu.Unlock()
	if !haveAcc {
		d, err := s.Device(ctx, device)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return 0, acc, false, nil
			}
			return 0, acc, false, fmt.Errorf("server: quota: %w", err)
		}
		acc = d.Account
	}
	if !haveUsage {
		if used, err = c.MailboxBytes(ctx, device); err != nil {
			return 0, acc, false, err
		}
	}
	st.mu.Lock()
	if len(st.usage)+len(st.accounts) > maxQuotaEntries {
		st.reset()
	}
	st.accounts[device] = acc
	if !haveUsage {
		if _, raced := st.usage[device]; !raced {
			st.usage[device] = used
		}
	}
	st.mu.Unlock()
	return used, acc, true, nil
}

// accountUsage returns the bytes waiting for all the devices of acc.
func (st *quotaState) accountUsage(ctx context.Context, s Store, c MailboxByteCounter, acc store.AccountID) (int64, error) {
	st.mu.Lock()
	devs, ok := st.members[acc]
	st.mu.Unlock()
	if !ok {
		ds, err := s.DevicesOf(ctx, acc)
		if err != nil {
			return 0, err
		}
		for _, d := range ds {
			devs = append(devs, d.ID)
		}
		st.mu.Lock()
		st.members[acc] = devs
		st.mu.Unlock()
	}
	var total int64
	for _, d := range devs {
		used, _, _, err := st.deviceUsage(ctx, s, c, d)
		if err != nil {
			return 0, err
		}
		total += used
	}
	return total, nil
}
