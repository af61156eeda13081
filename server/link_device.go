package server

import (
	"crypto/subtle"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// Device linking (docs/spec/device-linking.md): the server keeps, in
// memory only, a few short-lived mailboxes through which a device of an
// account hands the account, sealed with HPKE, to a new device. The server
// sees a mailbox id (a hash of a secret it never learns), the new device's
// public keys and ciphertext; a restart forgets every pending link (the user
// starts again).

const (
	// linkTTL is how long a linking mailbox lives after it is opened.
	linkTTL = 10 * time.Minute
	// maxLinkBoxes bounds the pending linking mailboxes of a server.
	maxLinkBoxes = 10000
)

// linkHub holds the linking mailboxes. Its zero value is ready.
type linkHub struct {
	mu    sync.Mutex
	boxes map[[32]byte]*linkBox
}

// linkBox is one linking mailbox.
type linkBox struct {
	owner   [32]byte // device key of the session that opened it
	linkKey []byte
	expires time.Time
	sealed  []byte // nil until approved
}

// sweepLocked drops expired mailboxes.
func (h *linkHub) sweepLocked(now time.Time) {
	for id, b := range h.boxes {
		if !now.Before(b.expires) {
			delete(h.boxes, id)
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
		delete(h.boxes, id)
		return nil
	}
	return b
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
	h := &ss.srv.links
	now := ss.srv.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.boxes == nil {
		h.boxes = map[[32]byte]*linkBox{}
	}
	if b := h.liveLocked(m.Mailbox, now); b != nil {
		if subtle.ConstantTimeCompare(b.owner[:], ss.key[:]) != 1 {
			return wire.Errorf(wire.CodeConflict, "this linking mailbox belongs to another device")
		}
		if b.sealed != nil {
			return wire.Errorf(wire.CodeConflict, "this linking mailbox was already approved; fetch it")
		}
	}
	// One open mailbox per device: a new one replaces the old.
	for id, b := range h.boxes {
		if b.owner == ss.key && id != m.Mailbox {
			delete(h.boxes, id)
		}
	}
	if len(h.boxes) >= maxLinkBoxes {
		h.sweepLocked(now)
		if len(h.boxes) >= maxLinkBoxes {
			e := wire.Errorf(wire.CodeUnavailable, "too many devices are linking right now")
			e.RetryAfter = 60
			return e
		}
	}
	h.boxes[m.Mailbox] = &linkBox{owner: ss.key, linkKey: append([]byte(nil), m.LinkKey...), expires: now.Add(linkTTL)}
	return &wire.OK{}
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
	delete(h.boxes, m.Mailbox)
	return &wire.LinkBlob{Sealed: sealed}
}
