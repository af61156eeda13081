package server

import (
	"crypto/subtle"
	"net/netip"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Device linking (docs/spec/device-linking.md): the server keeps, in
// memory only, a few short-lived mailboxes through which a device of an
// account hands the account, sealed with HPKE, to a new device. The server
// sees a mailbox id (a hash of a secret it never learns), the new device's
// public keys and ciphertext; a restart forgets every pending link (the user
// starts again).

// linkTTL is how long a linking mailbox lives after it is opened.
const linkTTL = 10 * time.Minute

// linkHub holds the linking mailboxes. Its zero value is ready. Besides
// the server-wide cap (Config.MaxLinkBoxes), the mailboxes opened from one
// address (IPv4, or IPv6 /64) and by the devices of one account are
// bounded, so that unregistered devices from one place cannot fill the hub
// and block linking for everyone (TestAdversaryLinkHubFill).
type linkHub struct {
	mu        sync.Mutex
	boxes     map[[32]byte]*linkBox
	byAddr    map[netip.Addr]int
	byAccount map[store.AccountID]int
}

// linkBox is one linking mailbox.
type linkBox struct {
	owner   [32]byte // device key of the session that opened it
	addr    netip.Addr
	account store.AccountID // zero when the opener is not registered
	linkKey []byte
	expires time.Time
	sealed  []byte // nil until approved
}

// addLocked and removeLocked keep the counts in step with boxes.
func (h *linkHub) addLocked(id [32]byte, b *linkBox) {
	if h.boxes == nil {
		h.boxes = map[[32]byte]*linkBox{}
		h.byAddr = map[netip.Addr]int{}
		h.byAccount = map[store.AccountID]int{}
	}
	h.boxes[id] = b
	h.byAddr[b.addr]++
	if b.account != (store.AccountID{}) {
		h.byAccount[b.account]++
	}
}

func (h *linkHub) removeLocked(id [32]byte) {
	b := h.boxes[id]
	if b == nil {
		return
	}
	delete(h.boxes, id)
	if h.byAddr[b.addr]--; h.byAddr[b.addr] <= 0 {
		delete(h.byAddr, b.addr)
	}
	if b.account != (store.AccountID{}) {
		if h.byAccount[b.account]--; h.byAccount[b.account] <= 0 {
			delete(h.byAccount, b.account)
		}
	}
}

// sweepLocked drops expired mailboxes.
func (h *linkHub) sweepLocked(now time.Time) {
	for id, b := range h.boxes {
		if !now.Before(b.expires) {
			h.removeLocked(id)
		}
	}
}

// liveLocked returns the mailbox id if it exists and has not expired.
func (h *linkHub) liveLocked(id [32]byte, now time.Time) *linkBox {
	b := h.boxes[id]
	if b == nil {
		return nil
	}
	if !now.Before(b.expires) {
		h.removeLocked(id)
		return nil
	}
	return b
}

// linkBusy is the answer when a linking cap is reached.
func linkBusy(why string) *wire.Error {
	e := wire.Errorf(wire.CodeUnavailable, "%s; try again in a few minutes", why)
	e.RetryAfter = 60
	return e
}

// dispatchLink answers the linking requests; ok is false for other messages.
func (ss *session) dispatchLink(m wire.Message) (resp wire.Message, ok bool) {
	switch m := m.(type) {
	case *wire.LinkOpen:
		return ss.linkOpen(m), true
	case *wire.LinkFetch:
		return ss.linkFetch(m), true
	case *wire.LinkLookup:
		if e := ss.needDevice(); e != nil {
			return e, true
		}
		return ss.linkLookup(m), true
	case *wire.LinkApprove:
		if e := ss.needDevice(); e != nil {
			return e, true
		}
		return ss.linkApprove(m), true
	}
	return nil, false
}

// linkOpen opens a mailbox for the session's (not yet registered) device.
func (ss *session) linkOpen(m *wire.LinkOpen) wire.Message {
	s := ss.srv
	account := ss.linkAccount()
	h := &s.links
	now := s.cfg.Now()
	addr := addrKey(ss.ip)
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.liveLocked(m.Mailbox, now); b != nil {
		if subtle.ConstantTimeCompare(b.owner[:], ss.key[:]) != 1 {
			return wire.Errorf(wire.CodeConflict, "this linking mailbox belongs to another device")
		}
		if b.sealed != nil {
			return wire.Errorf(wire.CodeConflict, "this linking mailbox was already approved; fetch it")
		}
	}
	// The same mailbox re-opened, or the device's older one, is replaced
	// (one open mailbox per device), before anything is counted.
	for id, b := range h.boxes {
		if b.owner == ss.key {
			h.removeLocked(id)
		}
	}
	if h.byAddr[addr] >= s.cfg.MaxLinkBoxesPerAddr || len(h.boxes) >= s.cfg.MaxLinkBoxes {
		h.sweepLocked(now)
	}
	switch {
	case h.byAddr[addr] >= s.cfg.MaxLinkBoxesPerAddr:
		s.refusals.log("link hub: per-address cap", "remote", addr, "cap", s.cfg.MaxLinkBoxesPerAddr)
		return linkBusy("too many devices are linking from your network right now")
	case account != (store.AccountID{}) && h.byAccount[account] >= s.cfg.MaxLinkBoxesPerAccount:
		s.refusals.log("link hub: per-account cap", "cap", s.cfg.MaxLinkBoxesPerAccount)
		return linkBusy("this account has too many devices linking right now")
	case len(h.boxes) >= s.cfg.MaxLinkBoxes:
		s.refusals.log("link hub: server cap", "cap", s.cfg.MaxLinkBoxes)
		return linkBusy("too many devices are linking right now")
	}
	h.addLocked(m.Mailbox, &linkBox{owner: ss.key, addr: addr, account: account,
		linkKey: append([]byte(nil), m.LinkKey...), expires: now.Add(linkTTL)})
	return &wire.OK{}
}

// linkAccount returns the account of the session's device if it is
// registered (the zero AccountID if not, or if the store cannot tell).
func (ss *session) linkAccount() store.AccountID {
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	d, err := ss.srv.cfg.Store.Device(ctx, ss.device)
	if err != nil {
		return store.AccountID{}
	}
	return d.Account
}

// linkLookup shows a registered device the offer in a mailbox.
func (ss *session) linkLookup(m *wire.LinkLookup) wire.Message {
	h := &ss.srv.links
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.liveLocked(m.Mailbox, ss.srv.cfg.Now())
	if b == nil || b.sealed != nil {
		return wire.Errorf(wire.CodeNotFound, "no pending linking request with this code (expired or already approved)")
	}
	return &wire.LinkOffer{DeviceKey: b.owner, LinkKey: append([]byte(nil), b.linkKey...), ExpiresAt: uint64(b.expires.Unix())}
}

// linkApprove deposits the sealed account, once.
func (ss *session) linkApprove(m *wire.LinkApprove) wire.Message {
	h := &ss.srv.links
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.liveLocked(m.Mailbox, ss.srv.cfg.Now())
	if b == nil {
		return wire.Errorf(wire.CodeNotFound, "no pending linking request with this code (expired or already used)")
	}
	if b.sealed != nil {
		return wire.Errorf(wire.CodeConflict, "this linking request was already approved")
	}
	b.sealed = append([]byte(nil), m.Sealed...)
	ss.srv.log.Info("device link approved")
	return &wire.OK{}
}

// linkFetch hands the sealed account to the device that opened the
// mailbox, once; only that device may fetch it.
func (ss *session) linkFetch(m *wire.LinkFetch) wire.Message {
	h := &ss.srv.links
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.liveLocked(m.Mailbox, ss.srv.cfg.Now())
	if b == nil || subtle.ConstantTimeCompare(b.owner[:], ss.key[:]) != 1 {
		return wire.Errorf(wire.CodeNotFound, "no linking request of this device (expired or already fetched)")
	}
	if b.sealed == nil {
		return &wire.LinkBlob{}
	}
	sealed := b.sealed
	h.removeLocked(m.Mailbox)
	return &wire.LinkBlob{Sealed: sealed}
}
