package server

import (
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// hub is the in-process fanout: it knows every open session by device and
// which one holds the device's subscription, and wakes that one up when its
// mailbox gets news. (Several nodes would add a Bus that carries the same
// "device X has news" across nodes.)
type hub struct {
	mu       sync.Mutex // guards the maps
	sessions map[store.DeviceID][]*session
	subs     map[store.DeviceID]*session
}

func (h *hub) init() {
	h.sessions = make(map[store.DeviceID][]*session)
	h.subs = make(map[store.DeviceID]*session)
}

func (h *hub) add(ss *session) {
	h.mu.Lock()
	h.sessions[ss.device] = append(h.sessions[ss.device], ss)
	h.mu.Unlock()
}

func (h *hub) remove(ss *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.sessions[ss.device]
	for i, o := range list {
		if o == ss {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(h.sessions, ss.device)
	} else {
		h.sessions[ss.device] = list
	}
	if h.subs[ss.device] == ss {
		delete(h.subs, ss.device)
		ss.srv.metrics.Subscribers.Add(-1)
		if n := ss.srv.cfg.Notifier; n != nil {
			n.Unsubscribed(ss.device)
		}
	}
}

// subscribe makes ss the device's subscriber and returns the one it
// replaced, if any.
func (h *hub) subscribe(ss *session) (old *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old = h.subs[ss.device]
	if old == ss {
		return nil
	}
	if old == nil {
		ss.srv.metrics.Subscribers.Add(1)
	}
	h.subs[ss.device] = ss
	return old
}

// notify wakes the subscribers of devices.
func (h *hub) notify(devices []store.DeviceID) {
	var wake []*session
	h.mu.Lock()
	for _, d := range devices {
		if ss := h.subs[d]; ss != nil {
			wake = append(wake, ss)
		}
	}
	h.mu.Unlock()
	for _, ss := range wake {
		ss.kick()
	}
}

// revoked closes every session of a revoked device.
func (h *hub) revoked(device store.DeviceID) {
	h.mu.Lock()
	list := append([]*session(nil), h.sessions[device]...)
	h.mu.Unlock()
	for _, ss := range list {
		ss.fail(0, wire.Errorf(wire.CodeDeviceRevoked, "this device was revoked from its account"))
	}
}

// subscribe starts the session's subscription; a newer one takes over
// from an older session of the same device (wire.md §6.6).
func (ss *session) subscribe() (wire.Message, func()) {
	ss.pmu.Lock()
	already := ss.subscribed
	ss.subscribed = true
	ss.pmu.Unlock()
	if already {
		return &wire.OK{}, nil
	}
	if old := ss.srv.hub.subscribe(ss); old != nil {
		old.fail(0, wire.Errorf(wire.CodeConflict, "a newer session of this device subscribed; this one closes"))
	}
	if n := ss.srv.cfg.Notifier; n != nil {
		n.Subscribed(ss.device) // bus.go: the other nodes close theirs
	}
	return &wire.OK{}, ss.kick // the pushes start after OK
}

// acked records an AckDelivery and resumes pushing if the window was full.
func (ss *session) acked(upTo uint64) {
	ss.pmu.Lock()
	ss.ackedSeq = max(ss.ackedSeq, upTo)
	sub := ss.subscribed
	ss.pmu.Unlock()
	if sub {
		ss.kick()
	}
}

// askCaughtUp asks the push goroutine for a CaughtUp push once a read of
// the mailbox made after this call finds nothing left to push (wire.md
// §6.6a); on an unsubscribed session it does nothing.
func (ss *session) askCaughtUp() {
	ss.pmu.Lock()
	if ss.subscribed {
		ss.markers++
	}
	ss.pmu.Unlock()
	ss.kick()
}

func (ss *session) stopPush() {
	ss.pmu.Lock()
	ss.subscribed = false
	ss.pmu.Unlock()
}

// kick makes sure a push goroutine runs for the session's mailbox. The
// goroutine exits once the mailbox is drained, so an idle subscribed
// session costs no goroutine.
func (ss *session) kick() {
	ss.pmu.Lock()
	defer ss.pmu.Unlock()
	if !ss.subscribed || ss.closing.Load() {
		return
	}
	if ss.pushing {
		ss.dirty = true
		return
	}
	ss.pushing = true
	go ss.pushLoop()
}

// pushBatch is how many entries one Pending call fetches: the payloads of
// one batch are in memory at once.
const pushBatch = 16

// pushLoop sends pending entries in seq order until the mailbox is empty
// or the window of unacknowledged pushes is full.
func (ss *session) pushLoop() {
	s := ss.srv
	defer func() {
		if v := recover(); v != nil {
			s.metrics.Panics.Add(1)
			s.log.Error("panic in push; closing the session", "panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			ss.fail(0, wire.Errorf(wire.CodeInternal, "the server had a problem; reconnect"))
		}
	}()
	for {
		ss.pmu.Lock()
		room := s.cfg.PushWindow
		if ss.sentSeq > ss.ackedSeq {
			room -= int(min(ss.sentSeq-ss.ackedSeq, uint64(room)))
		}
		if room <= 0 || !ss.subscribed || ss.closing.Load() {
			ss.pushing = false // AckDelivery kicks again
			ss.pmu.Unlock()
			return
		}
		after := ss.sentSeq
		ss.dirty = false
		// The markers asked before this read are due if it finds nothing:
		// every entry stored before they were asked has been pushed. Those
		// asked later set dirty and wait for the next read.
		asked := ss.markers
		ss.pmu.Unlock()

		ctx, cancel := s.storeCtx()
		entries, err := s.cfg.Store.Pending(ctx, ss.device, after, min(room, pushBatch))
		cancel()
		if err != nil {
			s.log.Error("reading a mailbox failed", "err", err)
			ss.stopAndFail(wire.Errorf(wire.CodeUnavailable, "the server could not read your mailbox; reconnect"))
			return
		}
		for i := range entries {
			e := &entries[i]
			d := &wire.Deliver{Seq: e.Seq, MsgID: wire.MsgID(e.MsgID), Group: wire.GroupHash(e.Group),
				Epoch: e.Epoch, Kind: wire.Kind(e.Kind), Payload: e.Payload}
			if err := ss.write(wire.Frame{Msg: d}); err != nil {
				ss.stopAndFail(nil)
				return
			}
			s.metrics.Delivered.Add(1)
			ss.pmu.Lock()
			ss.sentSeq = e.Seq
			ss.pmu.Unlock()
			entries[i].Payload = nil
		}
		if len(entries) == 0 {
			if asked > 0 && !ss.sendMarkers(asked) {
				return
			}
			ss.pmu.Lock()
			if !ss.dirty {
				ss.pushing = false
				ss.pmu.Unlock()
				return
			}
			ss.pmu.Unlock()
		}
	}
}

// sendMarkers pushes n CaughtUp markers, after every Deliver this session
// pushed, and counts them as sent; false means the session failed (and the
// push goroutine must end).
func (ss *session) sendMarkers(n int) bool {
	ss.pmu.Lock()
	upTo := ss.sentSeq
	ss.markers -= n
	ss.pmu.Unlock()
	for range n {
		if err := ss.write(wire.Frame{Msg: &wire.CaughtUp{UpToSeq: upTo}}); err != nil {
			ss.stopAndFail(nil)
			return false
		}
	}
	return true
}

// stopAndFail ends the push goroutine and the session.
func (ss *session) stopAndFail(e *wire.Error) {
	ss.pmu.Lock()
	ss.pushing = false
	ss.pmu.Unlock()
	if e != nil {
		ss.fail(0, e)
	} else if ss.closing.CompareAndSwap(false, true) {
		ss.sc.Close()
	}
}
