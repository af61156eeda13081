package tlsws

import (
	"sync"
	"time"
)

// Reading ahead of TLS during a client's replay, so that the replay's
// waits see the relay's records when they arrive, as a browser's network
// stack does, and not when the application next reads.
//
// A recordCounter counts records as the TLS layer reads them from the TCP
// conn, and the TLS layer reads only when the tunnel's user does. A client
// that only writes (an upload) then never saw the relay's records its
// trace shows before its own next one: each such wait ran out (peerWait,
// 300 ms), and the opening of a bulk upload took 350-450 ms instead of its
// trace's 70-260 ms. While the replay runs, a goroutine reads the TCP conn
// into a buffer, counting records as they come; TLS reads from the buffer.
// When the replay ends the goroutine stops (its read is cut short with a
// past deadline) and TLS drains the buffer, then reads the conn again.

// readAheadMost bounds the bytes read ahead and not yet taken by TLS: the
// relay's records of a trace are a few KiB, and what the relay sends
// beyond them waits in the kernel as it would without the read-ahead.
const readAheadMost = 256 << 10

// readAhead is the buffer between the read-ahead goroutine and TLS.
type readAhead struct {
	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte    // read from the conn, not yet taken by TLS
	err      error     // the conn's read error, after buf
	stopping bool      // the goroutine is to stop
	stopped  bool      // it has: reads go to the conn once buf is empty
	deadline time.Time // TLS's read deadline, kept here until stopped
	timer    *time.Timer
	done     chan struct{} // closed when the goroutine returned
}

// startReadAhead starts reading the conn ahead of TLS. The caller is the
// only one to start or stop it, and does so once.
func (rc *recordCounter) startReadAhead() {
	ra := &readAhead{done: make(chan struct{})}
	ra.cond.L = &ra.mu
	// The arrivals are scanned from where TLS's reads left off, which may
	// be inside a record.
	rc.arrivals = rc.read
	rc.dlMu.Lock()
	rc.ahead.Store(ra)
	ra.setDeadline(rc.readDL)
	rc.Conn.SetReadDeadline(time.Time{}) // the goroutine's reads wait for the network alone
	rc.dlMu.Unlock()
	go rc.pump(ra)
}

// stopReadAhead stops the read-ahead goroutine and hands TLS's read
// deadline back to the conn; what was read ahead is still read first.
// Only the first call does anything.
func (rc *recordCounter) stopReadAhead() {
	ra := rc.ahead.Load()
	if ra == nil {
		return
	}
	ra.mu.Lock()
	if ra.stopping {
		ra.mu.Unlock()
		return
	}
	ra.stopping = true
	ra.cond.Broadcast()
	ra.mu.Unlock()
	rc.Conn.SetReadDeadline(time.Unix(1, 0)) // cuts the goroutine's read short
	<-ra.done
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.stopped = true
	if ra.timer != nil {
		ra.timer.Stop()
	}
	rc.Conn.SetReadDeadline(ra.deadline)
	ra.cond.Broadcast()
}

// pump reads the conn into ra.buf, counting the records that arrive.
func (rc *recordCounter) pump(ra *readAhead) {
	defer close(ra.done)
	b := make([]byte, 16<<10)
	for {
		ra.mu.Lock()
		for len(ra.buf) >= readAheadMost && !ra.stopping {
			ra.cond.Wait()
		}
		stopping := ra.stopping
		ra.mu.Unlock()
		if stopping {
			return
		}
		n, err := rc.Conn.Read(b)
		rc.arrived(countRecords(&rc.arrivals, b[:n]))
		ra.mu.Lock()
		ra.buf = append(ra.buf, b[:n]...)
		if err != nil && !ra.stopping {
			ra.err = err
		}
		end := err != nil
		ra.cond.Broadcast()
		ra.mu.Unlock()
		if end {
			return
		}
	}
}

// read hands TLS what was read ahead, waiting for it (until TLS's read
// deadline); conn is true once the goroutine stopped and everything read
// ahead was taken: the caller reads the conn itself.
func (ra *readAhead) read(p []byte) (n int, err error, conn bool) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for len(ra.buf) == 0 && ra.err == nil && !ra.stopped {
		if !ra.deadline.IsZero() && !time.Now().Before(ra.deadline) {
			return 0, timeoutError{"reading"}, false
		}
		ra.cond.Wait()
	}
	switch {
	case len(ra.buf) > 0:
		n = copy(p, ra.buf)
		ra.buf = ra.buf[n:]
		if len(ra.buf) == 0 {
			ra.buf = nil
		}
		ra.cond.Broadcast() // room for the goroutine
		return n, nil, false
	case ra.err != nil:
		return 0, ra.err, false
	}
	return 0, nil, true
}

// setDeadline keeps TLS's read deadline while the goroutine runs, waking
// a read waiting for it when it passes; false once stopped (the caller
// sets it on the conn).
func (ra *readAhead) setDeadline(t time.Time) bool {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.stopped {
		return false
	}
	ra.deadline = t
	if ra.timer != nil {
		ra.timer.Stop()
	}
	if !t.IsZero() {
		ra.timer = time.AfterFunc(time.Until(t), func() {
			ra.mu.Lock()
			ra.cond.Broadcast()
			ra.mu.Unlock()
		})
	}
	ra.cond.Broadcast()
	return true
}

// pending reports whether bytes read ahead wait for TLS.
func (rc *recordCounter) pending() bool {
	return rc.ahead.Load() != nil
}
