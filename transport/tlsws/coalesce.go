package tlsws

import (
	"sync"
	"time"
)

// readReceived adds to a Read the payload of frames that have already
// arrived: buffered in br, or (once reading is record-aligned, see
// recordread.go) in whole TLS records kept under TLS. It never waits for
// the network. An error ends it; a lasting one is sticky (readFailed) and
// the next Read returns it. The caller holds readMu.
func (c *wsConn) readReceived(p []byte) int {
	cork := c.alignedCork()
	if cork != nil {
		cork.rd.noBlock = true
		defer func() { cork.rd.noBlock = false }()
	}
	n := 0
	for n < len(p) && c.received(cork) {
		m, err := c.readPayload(p[n:])
		n += m
		if err != nil {
			break
		}
	}
	return n
}

// alignedCork returns the corkConn under TLS once its reads are
// record-aligned, aligning them when the opening's replay is over; nil
// when there is none (plain HTTP behind a web server) or the replay runs.
func (c *wsConn) alignedCork() *corkConn {
	if c.cork == nil || c.cork == c.tc {
		return nil
	}
	if !c.cork.rd.aligned {
		if c.shape.cond != nil {
			c.shape.mu.Lock()
			active := c.shape.active
			c.shape.mu.Unlock()
			if active {
				return nil
			}
		}
		c.cork.align()
	}
	return c.cork
}

// received reports whether readPayload can go on without waiting for the
// network. With cork set (noBlock on), TLS fails at once instead of
// waiting, so any bytes received will do; without it, the next data
// frame's header must be buffered whole.
func (c *wsConn) received(cork *corkConn) bool {
	if cork != nil {
		return c.br.Buffered() > 0 || cork.mayHaveMore()
	}
	if c.payloadLeft > 0 {
		return c.br.Buffered() > 0
	}
	buf, _ := c.br.Peek(c.br.Buffered())
	h, _, err := parseFrameHeader(buf)
	return err == nil && h.opcode < opClose && h.length > 0
}

// writeQueue holds the Writes that arrive while another Write is being
// sent, to send them together as one message: merging happens only under
// backpressure (a send in flight), never by waiting on an idle conn, as an
// HTTP/2 connection merges the frames queued behind a write in flight.
// Queued bytes are bounded by maxFramePayload (a Write that does not fit
// waits for the queue to be taken), so a conn holds at most one message's
// bytes beyond the caller's; an idle conn holds none.
type writeQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	busy   bool    // a Write is sending (its own bytes, or a batch)
	buf    *[]byte // queued bytes, in order; from queueBufs, nil when empty
	queued int64   // bytes ever queued
	sent   int64   // of those, bytes sent
	err    error   // a batch failed: the conn cannot send any more

	// Write-behind (writeMerged): a single writer's back-to-back Writes.
	flushing bool          // flushQueue sends the queue; Writes return once queued
	lastEnd  time.Duration // since epoch, when the last send in a caller ended
	lastTook time.Duration // how long it took
}

// maxBehindGap bounds the pause after a send below which the next Write
// writes behind: a writer slower than that gains nothing from merging, and
// a slow send (a loaded machine) does not make its next Write wait.
const maxBehindGap = time.Millisecond

// epoch makes monotonic timestamps of the write queue.
var epoch = time.Now()

// behind reports whether a write-behind flush runs.
func (q *writeQueue) behind() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.flushing
}

// wake wakes the Writes waiting for room or for their turn, to see that
// the conn closed.
func (q *writeQueue) wake() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cond.L != nil {
		q.cond.Broadcast()
	}
}

// waitFlushed waits for the write-behind flush to end.
func (q *writeQueue) waitFlushed() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.flushing {
		q.cond.Wait()
	}
}

var queueBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, maxFramePayload)
	return &b
}}

func (q *writeQueue) queuedLen() int {
	if q.buf == nil {
		return 0
	}
	return len(*q.buf)
}

// writeMerged sends p now when no Write is being sent; otherwise it queues
// p and returns once p went out in a batch, sent by whichever waiting
// Write takes the turn first.
func (c *wsConn) writeMerged(p []byte) (int, error) {
	q := &c.wq
	q.mu.Lock()
	if q.cond.L == nil {
		q.cond.L = &q.mu
	}
	if !q.busy && q.queuedLen() == 0 {
		if now := time.Since(epoch); now-q.lastEnd >= min(q.lastTook, maxBehindGap) || len(p) > maxFramePayload || c.isClosed.Load() {
			// Idle: send now, in the caller.
			q.busy = true
			q.mu.Unlock()
			n, err := c.sendData(p)
			end := time.Since(epoch)
			q.mu.Lock()
			q.lastEnd, q.lastTook = end, end-now
			c.sendBatchLocked() // what queued meanwhile; then the next waiter's turn
			q.mu.Unlock()
			return n, err
		}
		// The writer is back before its last send would have taken:
		// write behind, in flushQueue.
		q.busy, q.flushing = true, true
		go c.flushQueue()
	}
	defer q.mu.Unlock()
	if q.flushing {
		return c.queueBehindLocked(p)
	}
	for q.err == nil && q.queuedLen() > 0 && q.queuedLen()+len(p) > maxFramePayload {
		c.waitTurnLocked()
	}
	switch {
	case q.err != nil:
		return 0, q.err
	case c.isClosed.Load():
		return 0, errClosed("writing")
	case c.deadlinePassed(&c.writeDL):
		return 0, timeoutError{"writing"}
	}
	if q.buf == nil {
		q.buf = queueBufs.Get().(*[]byte)
	}
	*q.buf = append(*q.buf, p...)
	q.queued += int64(len(p))
	end := q.queued
	for q.sent < end && q.err == nil {
		c.waitTurnLocked()
	}
	if q.sent >= end {
		return len(p), nil
	}
	return 0, q.err
}

// waitTurnLocked sends the queued batch when no one is sending, else waits
// for the send in flight to end. The caller holds q.mu.
func (c *wsConn) waitTurnLocked() {
	q := &c.wq
	if q.busy {
		q.cond.Wait()
		return
	}
	q.busy = true
	c.sendBatchLocked()
}

// sendBatchLocked sends what is queued, as one message, then ends the
// caller's turn (busy) and wakes the waiting Writes. The caller holds q.mu
// and the turn.
func (c *wsConn) sendBatchLocked() {
	q := &c.wq
	if b := q.buf; b != nil && q.err == nil {
		q.buf = nil
		q.mu.Unlock()
		_, err := c.sendData(*b)
		q.mu.Lock()
		if err != nil {
			q.err = err
		} else {
			q.sent += int64(len(*b))
		}
		*b = (*b)[:0]
		queueBufs.Put(b)
	}
	q.busy = false
	q.cond.Broadcast()
}

// queueBehindLocked queues p for the write-behind flush and returns, after
// waiting for room if the queue is full. The caller holds q.mu.
func (c *wsConn) queueBehindLocked(p []byte) (int, error) {
	q := &c.wq
	for q.flushing && q.err == nil && q.queuedLen() > 0 && q.queuedLen()+len(p) > maxFramePayload && !c.isClosed.Load() {
		q.cond.Wait()
	}
	switch {
	case q.err != nil:
		return 0, q.err
	case c.isClosed.Load():
		return 0, errClosed("writing")
	case !q.flushing:
		// The flush ended while we waited: take the turn as any Write.
		q.mu.Unlock()
		n, err := c.writeMerged(p)
		q.mu.Lock()
		return n, err
	}
	if q.buf == nil {
		q.buf = queueBufs.Get().(*[]byte)
	}
	*q.buf = append(*q.buf, p...)
	q.queued += int64(len(p))
	return len(p), nil
}

// flushQueue sends the queue until it is empty, each batch as one message,
// then ends the write-behind. A failed send drops what is queued; later
// Writes return its error.
func (c *wsConn) flushQueue() {
	q := &c.wq
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.buf != nil {
		b := q.buf
		q.buf = nil
		if q.err == nil {
			q.mu.Unlock()
			start := time.Since(epoch)
			_, err := c.send(*b, true)
			end := time.Since(epoch)
			q.mu.Lock()
			q.lastEnd, q.lastTook = end, end-start
			if err != nil {
				q.err = err
			} else {
				q.sent += int64(len(*b))
			}
		}
		*b = (*b)[:0]
		queueBufs.Put(b)
		q.cond.Broadcast()
	}
	q.busy, q.flushing = false, false
	q.cond.Broadcast()
}
