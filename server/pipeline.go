package server

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Pipelined Sends (wire.md §1: a client may pipeline requests; the server
// applies the Sends of a session in the order it received them).
//
// When the store can queue a Send without waiting for its commit
// (AsyncEnqueuer), the reader queues each Send and reads on; an acker
// goroutine of the session waits for the commits in order and writes the
// Acks, as many as have committed in one write. A session thus has Sends
// of several requests in one group commit, and its Acks share a write: per
// message, fewer syscalls and no wait between reading one Send and the
// next. Any other request waits until every Send before it is answered, so
// that it sees them applied (and is answered after them), as when requests
// were handled one at a time. The acker exits when it has nothing left to
// answer, so idle sessions keep no goroutine for it.

// Bounds of what one session may have queued and not yet answered: the
// reader stops reading (TCP pushes back on the client) until the acker
// makes room.
const (
	maxPipelined      = 64
	maxPipelinedBytes = 1 << 20 // payload bytes; one Send of any size is always let in
)

// inflightSend is a queued Send waiting for its commit.
type inflightSend struct {
	requestID  uint32
	msgID      wire.MsgID
	kind       store.Kind
	recipients []store.DeviceID
	size       int
	pending    store.PendingSend
	queued     time.Time
}

// pipeline is the queue of a session's unanswered Sends.
type pipeline struct {
	answerQueue[*inflightSend] // running: an acker goroutine is answering the queue (blob_ahead.go)
	bytes                      int
}

// sendPipelined queues m in the store and returns at once (false: the
// session must close). The acker answers it.
func (ss *session) sendPipelined(requestID uint32, m *wire.Send, async AsyncEnqueuer) bool {
	snd, e := ss.prepareSend(m)
	if e != nil {
		ss.drainPipeline() // answered after the Sends before it
		return ss.reply(requestID, e)
	}
	p := ss.pipe
	if p == nil { // only the reader goroutine sets it
		p = &pipeline{}
		p.init()
		ss.pipe = p
	}
	p.mu.Lock()
	for len(p.queue) > 0 && (len(p.queue) >= maxPipelined || p.bytes+len(snd.Payload) > maxPipelinedBytes) {
		p.cond.Wait()
	}
	p.mu.Unlock()

	ctx, cancel := ss.srv.storeCtx()
	pending := async.EnqueueAsync(ctx, snd)
	cancel() // it bounds only the queueing
	it := &inflightSend{requestID: requestID, msgID: m.MsgID, kind: snd.Kind, recipients: snd.Recipients,
		size: len(snd.Payload), pending: pending, queued: time.Now()}

	p.mu.Lock()
	start := p.addLocked(it)
	p.bytes += it.size
	p.mu.Unlock()
	if start {
		go ss.ackLoop()
	}
	return !ss.closing.Load()
}

// drainPipeline waits until every queued Send is answered and the acker
// has stopped.
func (ss *session) drainPipeline() {
	if p := ss.pipe; p != nil {
		p.drain()
	}
}

// ackLoop answers the queued Sends in order: it waits for the oldest, takes
// every one after it that has committed too, and writes their answers in
// one write. It returns when the queue is empty.
func (ss *session) ackLoop() {
	p := ss.pipe
	defer func() {
		if v := recover(); v != nil {
			ss.srv.metrics.Panics.Add(1)
			ss.srv.log.Error("panic in the acker; closing the session", "panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			ss.fail(0, wire.Errorf(wire.CodeInternal, "the server had a problem; reconnect and retry"))
			p.mu.Lock()
			p.queue, p.bytes, p.running = nil, 0, false
			p.cond.Broadcast()
			p.mu.Unlock()
		}
	}()
	var done []*inflightSend
	var frames []wire.Frame
	for {
		head, ok := p.next()
		if !ok {
			return
		}

		head.pending.Wait()

		p.mu.Lock()
		n := 1
		for n < len(p.queue) && p.queue[n].pending.Ready() {
			n++
		}
		done = append(done[:0], p.queue[:n]...)
		p.dropLocked(n)
		for _, it := range done {
			p.bytes -= it.size
		}
		p.mu.Unlock()

		frames = frames[:0]
		for _, it := range done {
			res, err := it.pending.Wait()
			ss.srv.metrics.enqueueSeconds.observe(time.Since(it.queued).Seconds())
			frames = append(frames, wire.Frame{RequestID: it.requestID, Msg: ss.finishSend(it.msgID, it.kind, it.recipients, it.size, res, err)})
		}
		clear(done)
		if err := ss.writeBatch(frames); err != nil {
			// The record stream is broken: end the session (the reader
			// sees its channel closed). Later Sends are still committed
			// and answered by nobody; the client retries them and the
			// MsgID makes that safe.
			ss.closing.Store(true)
			ss.sc.Close()
		}
	}
}
