package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Quotas bound what the server stores for whom (docs/operator-guide.md,
// "Quotas and limits"). A zero field takes its default; -1 turns it off.
// Over a mailbox or account quota a write is refused with
// wire.CodeQuotaExceeded; short of the disk reserve with
// wire.CodeStorageFull. Both are retryable: the client keeps the message and
// sends it again later. A Send over the per-Send budget can never pass
// unchanged, so it gets wire.CodeTooLarge. Nothing already acknowledged
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
	DefaultSendBytes    = 256 << 20
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

// membersTTL is how long an account's device list is trusted.
const membersTTL = time.Minute

// quotaState caches what the mailboxes hold, as upper bounds: a device's
// usage is read from the store when first needed and raised by every Send
// to it the server acknowledges; an Ack or an expiry only marks it stale
// (it can only have shrunk). A stale bound is read again from the store
// only when it would refuse a Send, so the steady state costs no query.
// Two Sends checked at the same moment may together pass a quota by up to
// one Send each: the quotas are soft by that much; the disk reserve is not.
type quotaState struct {
	q Quotas

	mu       sync.Mutex // guards the maps
	usage    map[store.DeviceID]*mailboxUsage
	accounts map[store.DeviceID]store.AccountID // device -> account (never changes)
	members  map[store.AccountID]accountMembers
}

type mailboxUsage struct {
	bytes int64 // at least what is waiting
	stale bool  // something may have been removed since bytes was exact
}

type accountMembers struct {
	devices []store.DeviceID
	loaded  time.Time
}

func newQuotaState(q Quotas) *quotaState {
	st := &quotaState{q: q}
	st.reset()
	return st
}

func (st *quotaState) reset() {
	st.usage = make(map[store.DeviceID]*mailboxUsage)
	st.accounts = make(map[store.DeviceID]store.AccountID)
	st.members = make(map[store.AccountID]accountMembers)
}

// shrunk marks a device's usage (after an Ack, a revocation) or, for nil,
// every device's (after an expiry) as possibly lower than known.
func (st *quotaState) shrunk(device *store.DeviceID) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if device == nil {
		for _, u := range st.usage {
			u.stale = true
		}
		return
	}
	if u := st.usage[*device]; u != nil {
		u.stale = true
	}
}

// added records an acknowledged Send of size bytes to recipients.
func (st *quotaState) added(recipients []store.DeviceID, size int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range recipients {
		if u := st.usage[r]; u != nil {
			u.bytes += int64(size)
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
		// TooLarge, not the retryable QuotaExceeded: this request can
		// never pass unchanged.
		return ss.refuse(wire.CodeTooLarge, "send budget", 0,
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
		used, acc, known, err := s.quota.deviceUsage(ctx, s.cfg.Store, counter, r, size)
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
		used, err := s.quota.accountUsage(ctx, s.cfg.Store, counter, acc, add)
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

// deviceUsage returns an upper bound of the bytes waiting for device, and
// its account; known is false for a device that is not registered. A
// stale bound that would not leave room for add more bytes under the
// mailbox quota is read again from the store.
func (st *quotaState) deviceUsage(ctx context.Context, s Store, c MailboxByteCounter, device store.DeviceID, add int64) (used int64, acc store.AccountID, known bool, err error) {
	st.mu.Lock()
	u := st.usage[device]
	var stale bool
	if u != nil {
		used, stale = u.bytes, u.stale
	}
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
	reload := u == nil || (stale && st.q.MailboxBytes > 0 && used+add > st.q.MailboxBytes)
	if reload {
		if used, err = c.MailboxBytes(ctx, device); err != nil {
			return 0, acc, false, err
		}
	}
	st.mu.Lock()
	if len(st.usage)+len(st.accounts) > maxQuotaEntries {
		st.reset()
	}
	st.accounts[device] = acc
	if reload {
		// A Send acknowledged while the store was read may be counted
		// twice: a bound, never an undercount.
		st.usage[device] = &mailboxUsage{bytes: used}
	}
	st.mu.Unlock()
	return used, acc, true, nil
}

// accountUsage returns an upper bound of the bytes waiting for all the
// devices of acc; if it would not leave room for add, the stale bounds of
// its devices are read again.
func (st *quotaState) accountUsage(ctx context.Context, s Store, c MailboxByteCounter, acc store.AccountID, add int64) (int64, error) {
	now := time.Now()
	st.mu.Lock()
	m, ok := st.members[acc]
	st.mu.Unlock()
	if !ok || now.Sub(m.loaded) > membersTTL {
		ds, err := s.DevicesOf(ctx, acc)
		if err != nil {
			return 0, err
		}
		m = accountMembers{loaded: now}
		for _, d := range ds {
			m.devices = append(m.devices, d.ID)
		}
		st.mu.Lock()
		st.members[acc] = m
		st.mu.Unlock()
	}
	sum := func(exact bool) (int64, error) {
		var total int64
		for _, d := range m.devices {
			st.mu.Lock()
			u := st.usage[d]
			var used int64
			stale := u == nil
			if u != nil {
				used, stale = u.bytes, u.stale
			}
			st.mu.Unlock()
			if u == nil || (exact && stale) {
				var err error
				if used, err = c.MailboxBytes(ctx, d); err != nil {
					return 0, err
				}
				st.mu.Lock()
				st.usage[d] = &mailboxUsage{bytes: used}
				st.mu.Unlock()
			}
			total += used
		}
		return total, nil
	}
	total, err := sum(false)
	if err != nil || total+add <= st.q.AccountBytes {
		return total, err
	}
	return sum(true)
}
