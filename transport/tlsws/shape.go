package tlsws

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// Tunnel shaping (docs/spec/transports.md, "tlsws: the opening's shape").
// A tunnel's opening replays one of Chromium's connections to the cover
// site (the profile, shape_profile.go), record by record, in both
// directions: the upgrade request is padded to the size of the browser's
// first request, the 101 answer to the size of its first answer, and each
// later record of the trace goes out at its time, at its size, on the side
// that sent it, carrying whatever tunnel bytes are waiting (pong frames,
// RFC 6455 §5.5.3, fill the rest; the reader drops them). A record with
// nothing to carry goes out as padding. Writes during the replay wait for
// the records that carry them; what the trace has no room for goes out
// once it ends. Both ends replay the same trace, picked from the
// Sec-WebSocket-Key (traceFor).

// shaper replays one side's records of a trace on a wsConn.
type shaper struct {
	mu     sync.Mutex
	cond   *sync.Cond
	active bool   // the replay runs: Writes queue
	queue  []byte // tunnel bytes waiting for a record
	queued int64  // bytes ever queued
	sent   int64  // bytes ever sent from the queue
}

// startShaping replays plan (the trace's records of this side, timed from
// start) in the background. An empty plan shapes nothing.
func (c *wsConn) startShaping(plan []shapeRecord, start time.Time) {
	if len(plan) == 0 {
		return
	}
	c.shape.cond = sync.NewCond(&c.shape.mu)
	c.shape.active = true
	go c.replay(plan, start)
}

// writeQueued hands p to the replay and waits until it went out; handled
// is false when no replay runs (any more).
func (c *wsConn) writeQueued(p []byte) (n int, handled bool, err error) {
	s := &c.shape
	if s.cond == nil {
		return 0, false, nil
	}
	s.mu.Lock()
	if !s.active {
		s.mu.Unlock()
		return 0, false, nil
	}
	s.queue = append(s.queue, p...)
	s.queued += int64(len(p))
	target := s.queued
	for s.sent < target && s.active {
		s.cond.Wait()
	}
	done := s.sent >= target
	s.mu.Unlock()
	switch {
	case done:
		return len(p), true, nil
	case c.isClosed.Load():
		return 0, true, errClosed("writing")
	}
	c.writeMu.Lock()
	err = c.writeErr
	if err == nil {
		err = errClosed("writing")
	}
	c.writeMu.Unlock()
	return 0, true, err
}

// replay sends each planned record at its time, then what is left queued,
// and ends the replay. It stops early when the conn closes.
func (c *wsConn) replay(plan []shapeRecord, start time.Time) {
	s := &c.shape
	defer func() {
		s.mu.Lock()
		s.active = false
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	for _, r := range plan {
		if wait := time.Until(start.Add(r.at)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.closed:
				t.Stop()
				return
			}
		}
		if !c.sendPlanned(r.size - tlsRecordOverhead) {
			return
		}
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	s.mu.Lock()
	rest := s.queue
	s.queue = nil
	s.mu.Unlock()
	for len(rest) > 0 && c.writeErr == nil && !c.closeSent {
		chunk := rest[:min(len(rest), maxFramePayload)]
		if c.writeFrameLocked(opBinary, chunk) != nil {
			return
		}
		rest = rest[len(chunk):]
		s.mu.Lock()
		s.sent += int64(len(chunk))
		s.mu.Unlock()
	}
}

// sendPlanned writes one record of exactly size bytes of frames: queued
// tunnel bytes, padded with pongs. It reports whether the conn is still
// usable.
func (c *wsConn) sendPlanned(size int) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeErr != nil || c.closeSent || c.isClosed.Load() {
		return false
	}
	s := &c.shape
	s.mu.Lock()
	data := s.queue[:fitData(size, len(s.queue), c.client)]
	s.mu.Unlock()
	if err := c.writeRecordLocked(data, size-frameLen(len(data), c.client)); err != nil {
		return false
	}
	s.mu.Lock()
	s.queue = s.queue[len(data):]
	s.sent += int64(len(data))
	s.cond.Broadcast()
	s.mu.Unlock()
	return true
}

// frameLen is a frame's length on the wire with n bytes of payload; a
// frame of no data takes no room.
func frameLen(n int, masked bool) int {
	if n == 0 {
		return 0
	}
	h := 2
	if n > maxControlPayload {
		h += 2
	}
	if masked {
		h += 4
	}
	return h + n
}

// pongHeader is a pong frame's header length.
func pongHeader(masked bool) int {
	if masked {
		return 6
	}
	return 2
}

// fitData returns how many of avail bytes a record of size bytes carries
// so that pong frames can fill exactly what is left (nothing, or at least
// one pong header).
func fitData(size, avail int, masked bool) int {
	n := min(avail, size-2)
	for n > 0 {
		r := size - frameLen(n, masked)
		if r == 0 || r >= pongHeader(masked) {
			return n
		}
		n--
	}
	return 0
}

// writeRecordLocked writes data (if any) as a binary frame and pad bytes
// of pong frames (headers included), in one TLS Write. The caller holds
// writeMu.
func (c *wsConn) writeRecordLocked(data []byte, pad int) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	var buf []byte
	padFirst := c.rng.IntN(2) == 0
	if !padFirst && len(data) > 0 {
		buf = c.appendFrame(buf, opBinary, data)
	}
	ph := pongHeader(c.client)
	for pad >= ph {
		k := min(pad-ph, maxControlPayload)
		if rem := pad - ph - k; rem > 0 && rem < ph {
			k -= ph - rem
		}
		buf = c.appendFrame(buf, opPong, make([]byte, k))
		pad -= ph + k
	}
	if padFirst && len(data) > 0 {
		buf = c.appendFrame(buf, opBinary, data)
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := c.tc.Write(buf); err != nil {
		c.writeErr = fmt.Errorf("tlsws: writing: %w", err)
		return c.writeErr
	}
	return nil
}

// appendFrame appends one final frame, masked on the client side.
func (c *wsConn) appendFrame(b []byte, opcode byte, payload []byte) []byte {
	var key [4]byte
	if c.client {
		binary.LittleEndian.PutUint32(key[:], uint32(c.maskRand.Uint64()))
	}
	b = appendFrameHeader(b, opcode, len(payload), c.client, key)
	hdr := len(b)
	b = append(b, payload...)
	if c.client {
		var m maskPattern
		m.set(key)
		m.xor(b[hdr:], b[hdr:], 0)
	}
	return b
}

// paddingValue returns n characters of a random cookie or header value
// (base64url), for padding the upgrade request and its answer to the
// trace's first records. The server ignores the cookie.
func paddingValue(n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, (n*3+3)/4)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
