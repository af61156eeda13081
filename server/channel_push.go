package server

import (
	"runtime"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// channelSub is one session's subscription to one channel: a goroutine
// that sends every post after its cursor.
type channelSub struct {
	ss     *session
	lc     *liveChannel
	cursor uint64        // highest seq sent (or skipped); touched only by run
	quit   chan struct{} // closed to end the subscription
}

func (ss *session) subscribeChannel(m *wire.SubscribeChannel) (wire.Message, func()) {
	lc, e := ss.live(m.Channel)
	if e != nil {
		return e, nil
	}
	h := &ss.srv.chans
	h.mu.Lock()
	sc := h.session(ss)
	if sc.subs[m.Channel] != nil {
		h.mu.Unlock()
		return &wire.OK{}, nil
	}
	lc.mu.RLock()
	sub := &channelSub{ss: ss, lc: lc, cursor: lc.lastSeq, quit: make(chan struct{})}
	lc.mu.RUnlock()
	sc.subs[m.Channel] = sub
	h.mu.Unlock()
	return &wire.OK{}, func() { go sub.run() } // pushes start after OK
}

func (ss *session) unsubscribeChannel(m *wire.UnsubscribeChannel) wire.Message {
	h := &ss.srv.chans
	h.mu.Lock()
	sc := h.session(ss)
	sub := sc.subs[m.Channel]
	delete(sc.subs, m.Channel)
	h.mu.Unlock()
	if sub != nil {
		close(sub.quit)
	}
	return &wire.OK{}
}

// fanoutSlots bounds how many subscriptions write at once. Without it,
// every post makes every subscriber's goroutine runnable at once (15,000
// of them in the fanout benchmark), and the goroutines that take posts in
// (the publisher's session, the store's writer) wait their turn behind all
// of them; with it, the waiting subscribers are parked, not runnable, and a
// subscriber that gets a slot late takes every post that arrived meanwhile
// in one push.
var fanoutSlots = make(chan struct{}, 4*runtime.GOMAXPROCS(0))

// pushWriteTimeout bounds one channel push's write.
const pushWriteTimeout = 2 * time.Second

// run sends new posts until the subscription or the session ends. A
// subscriber that falls more than the ring behind skips ahead; the gap in
// seqs tells its client to fetch the missing posts.
func (sub *channelSub) run() {
	lc := sub.lc
	var batch [][]byte
	for {
		lc.mu.RLock()
		if sub.cursor >= lc.lastSeq {
			notify := lc.notify
			lc.mu.RUnlock()
			select {
			case <-notify:
				continue
			case <-sub.quit:
				return
			}
		}
		lc.mu.RUnlock()
		select {
		case fanoutSlots <- struct{}{}:
		case <-sub.quit:
			return
		}
		ok := sub.pushNext(&batch)
		<-fanoutSlots
		if !ok {
			return
		}
	}
}

// pushNext sends the posts after the cursor (up to a batch) in one push;
// false means the subscription is over.
func (sub *channelSub) pushNext(batch *[][]byte) bool {
	lc := sub.lc
	lc.mu.RLock()
	if len(lc.ring) == 0 || sub.cursor >= lc.lastSeq { // no posts after the cursor are in the ring
		sub.cursor = max(sub.cursor, lc.lastSeq)
		lc.mu.RUnlock()
		return true
	}
	var frame []byte
	*batch = (*batch)[:0]
	if lc.ring[0].seq > sub.cursor+1 {
		sub.cursor = lc.ring[0].seq - 1 // fell behind the ring
	}
	// The ring holds consecutive seqs ending at lastSeq.
	first := len(lc.ring) - int(lc.lastSeq-sub.cursor)
	end := min(first+wire.MaxChannelBatch, len(lc.ring))
	if end-first == 1 {
		frame = lc.ring[first].frame
	}
	for i := first; i < end; i++ {
		*batch = append(*batch, lc.ring[i].post)
	}
	last := sub.cursor
	if end > first {
		last = lc.ring[end-1].seq
	}
	lc.mu.RUnlock()
	if frame == nil && len(*batch) > 0 {
		var err error
		frame, err = wire.Encode(wire.Frame{Msg: &wire.ChannelPush{Channel: lc.id, Posts: *batch}})
		if err != nil {
			sub.ss.srv.log.Error("encoding a channel push failed", "err", err)
			return false
		}
	}
	clear(*batch)
	if frame != nil && !sub.send(frame) {
		return false
	}
	sub.cursor = last
	return true
}

// send writes one pre-encoded push; false means the session is gone.
func (sub *channelSub) send(frame []byte) bool {
	ss := sub.ss
	select {
	case <-sub.quit:
		return false
	default:
	}
	if ss.closing.Load() {
		return false
	}
	// The writer holds a fanout slot: a subscriber that has stopped reading
	// (its socket buffers full, hundreds of KiB behind) must not hold it
	// long. It is dropped, and catches up from its seq when it reconnects.
	ss.sc.SetWriteDeadline(time.Now().Add(min(ss.srv.cfg.WriteTimeout, pushWriteTimeout)))
	if err := ss.sc.Send(frame); err != nil {
		if ss.closing.CompareAndSwap(false, true) {
			ss.sc.Close()
		}
		return false
	}
	ss.srv.metrics.frameOut(wire.TypeChannelPush)
	return true
}
