package server

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// Live fanout (docs/spec/channels.md §8). A post does not wake one
// goroutine per subscriber: it starts a round over the channel's
// subscriber list, which a few workers walk in chunks, writing each
// subscriber everything after its cursor in one push. A post that arrives
// during a round makes another round follow it, so a subscriber is served
// once per round, in list order, and one that the round reaches late takes
// every post that arrived meanwhile. Workers across all channels share
// fanoutSlots, so the goroutines that take posts in (the publisher's
// session, the store's writer) are never queued behind thousands of
// runnable subscribers.

// fanoutSlots bounds how many workers write at once, over all channels.
// A worker waiting for a slow subscriber's socket holds one for at most
// pushWriteTimeout.
var fanoutSlots = make(chan struct{}, 4*runtime.GOMAXPROCS(0))

// fanoutChunk is how many subscribers a worker takes from a round at once.
const fanoutChunk = 32

// pushWriteTimeout bounds one channel push's write.
const pushWriteTimeout = 2 * time.Second

// channelSub is one session's subscription to one channel.
type channelSub struct {
	ss     *session
	lc     *liveChannel
	pushMu sync.Mutex  // held while a worker pushes to it, and by end
	cursor uint64      // highest seq sent (or skipped); guarded by pushMu
	done   atomic.Bool // the subscription ended; set under pushMu
	idx    int         // position in lc.subs; guarded by lc.subMu
}

// fanout is a live channel's subscriber list and round state.
type fanout struct {
	subMu   sync.Mutex
	subs    []*channelSub
	driving bool // a goroutine runs rounds
	again   bool // a round must start (a post, a new or lagging subscriber)
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
	sub := &channelSub{ss: ss, lc: lc, cursor: lc.lastSeq, idx: -1}
	lc.mu.RUnlock()
	sc.subs[m.Channel] = sub
	h.mu.Unlock()
	return &wire.OK{}, func() { lc.addSub(sub) } // pushes start after OK
}

func (ss *session) unsubscribeChannel(m *wire.UnsubscribeChannel) wire.Message {
	h := &ss.srv.chans
	h.mu.Lock()
	sc := h.session(ss)
	sub := sc.subs[m.Channel]
	delete(sc.subs, m.Channel)
	h.mu.Unlock()
	if sub != nil {
		sub.end()
	}
	return &wire.OK{}
}

// addSub puts sub on the list and starts a round if posts arrived since
// its cursor was set.
func (lc *liveChannel) addSub(sub *channelSub) {
	cursor := sub.cursor // not yet on the list: no worker has it
	lc.subMu.Lock()
	if sub.done.Load() { // the session ended before its OK was written
		lc.subMu.Unlock()
		return
	}
	sub.idx = len(lc.subs)
	lc.subs = append(lc.subs, sub)
	lc.subMu.Unlock()
	lc.mu.RLock()
	behind := cursor < lc.lastSeq
	lc.mu.RUnlock()
	if behind {
		lc.kick()
	}
}

// end stops pushes to sub and takes it off its channel's list. It waits
// for a push in progress, so none is written after it returns: a client
// that unsubscribes and subscribes again never sees an old push after a
// new one.
func (sub *channelSub) end() {
	sub.pushMu.Lock()
	sub.done.Store(true)
	sub.pushMu.Unlock()
	lc := sub.lc
	lc.subMu.Lock()
	defer lc.subMu.Unlock()
	if i := sub.idx; i >= 0 {
		last := len(lc.subs) - 1
		lc.subs[i] = lc.subs[last]
		lc.subs[i].idx = i
		lc.subs[last] = nil
		lc.subs = lc.subs[:last]
		sub.idx = -1
	}
}

// kick makes a round start (now, or after the running one).
func (lc *liveChannel) kick() {
	lc.subMu.Lock()
	lc.again = true
	if lc.driving {
		lc.subMu.Unlock()
		return
	}
	lc.driving = true
	lc.subMu.Unlock()
	go lc.drive()
}

// drive runs rounds until none is wanted. A round is over for drive once
// its last chunk is taken: the next one may start while workers finish
// their chunks, so one subscriber whose socket is full delays the rest of
// its chunk, not the channel.
func (lc *liveChannel) drive() {
	for {
		lc.subMu.Lock()
		if !lc.again {
			lc.driving = false
			lc.subMu.Unlock()
			return
		}
		lc.again = false
		subs := append([]*channelSub(nil), lc.subs...)
		lc.subMu.Unlock()
		lc.round(subs)
	}
}

// round hands subs to workers in chunks and returns when every chunk is
// taken.
func (lc *liveChannel) round(subs []*channelSub) {
	chunks := (len(subs) + fanoutChunk - 1) / fanoutChunk
	if chunks == 0 {
		return
	}
	var next atomic.Int64
	taken := make(chan struct{})
	work := func() {
		var cache pushCache
		for {
			c := int(next.Add(1)) - 1
			if c >= chunks {
				return
			}
			if c == chunks-1 {
				close(taken)
			}
			fanoutSlots <- struct{}{}
			for _, sub := range subs[c*fanoutChunk : min((c+1)*fanoutChunk, len(subs))] {
				sub.push(&cache)
			}
			<-fanoutSlots
		}
	}
	for range min(cap(fanoutSlots), chunks) {
		go work()
	}
	<-taken
}

// pushCache keeps a worker's last multi-post frame: the subscribers of one
// round are mostly at the same cursor, so they share its encoding.
type pushCache struct {
	lc          *liveChannel
	first, last uint64
	frame       []byte
}

// push sends the posts after sub's cursor (up to a batch) in one push,
// unless another worker is at it or the subscription is over. If posts
// arrived while it wrote, it asks for another round.
func (sub *channelSub) push(cache *pushCache) {
	if sub.done.Load() || !sub.pushMu.TryLock() {
		return
	}
	defer sub.pushMu.Unlock()
	if sub.done.Load() || !sub.pushNext(cache) {
		return
	}
	lc := sub.lc
	lc.mu.RLock()
	behind := sub.cursor < lc.lastSeq
	lc.mu.RUnlock()
	if behind {
		lc.kick()
	}
}

// pushNext sends the posts after the cursor (up to a batch) in one push; a
// subscriber that fell more than the ring behind skips ahead (the gap in
// seqs tells its client to fetch the missing posts). False means the
// subscription is over.
func (sub *channelSub) pushNext(cache *pushCache) bool {
	lc := sub.lc
	lc.mu.RLock()
	if len(lc.ring) == 0 || sub.cursor >= lc.lastSeq { // no posts after the cursor are in the ring
		sub.cursor = max(sub.cursor, lc.lastSeq)
		lc.mu.RUnlock()
		return true
	}
	if lc.ring[0].seq > sub.cursor+1 {
		sub.cursor = lc.ring[0].seq - 1 // fell behind the ring
	}
	// The ring holds consecutive seqs ending at lastSeq.
	first := len(lc.ring) - int(lc.lastSeq-sub.cursor)
	end := min(first+wire.MaxChannelBatch, len(lc.ring))
	firstSeq, last := lc.ring[first].seq, lc.ring[end-1].seq
	var frame []byte
	var posts [][]byte
	switch {
	case end-first == 1:
		frame = lc.ring[first].frame
	case cache.lc == lc && cache.first == firstSeq && cache.last == last:
		frame = cache.frame
	default:
		posts = make([][]byte, 0, end-first)
		for _, e := range lc.ring[first:end] {
			posts = append(posts, e.post)
		}
	}
	lc.mu.RUnlock()
	if frame == nil {
		var err error
		frame, err = wire.Encode(wire.Frame{Msg: &wire.ChannelPush{Channel: lc.id, Posts: posts}})
		if err != nil {
			sub.ss.srv.log.Error("encoding a channel push failed", "err", err)
			return false
		}
		if len(posts) > 1 {
			*cache = pushCache{lc: lc, first: firstSeq, last: last, frame: frame}
		}
	}
	if !sub.send(frame) {
		return false
	}
	sub.cursor = last
	return true
}

// send writes one pre-encoded push; false means the session is gone.
func (sub *channelSub) send(frame []byte) bool {
	ss := sub.ss
	if sub.done.Load() || ss.closing.Load() {
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
