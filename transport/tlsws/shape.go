package tlsws

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
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
// once it ends. Both ends replay the same trace, picked from the TLS
// exporter value (exporterTraceIndex; the client's Sec-WebSocket-Key maps
// to it too, keyForTrace, for a relay behind a web server).

// shaper replays one side's records of a trace on a wsConn.
type shaper struct {
	mu     sync.Mutex
	cond   *sync.Cond
	active bool   // the replay runs: Writes queue
	raw    []byte // bytes to send before any frame, unframed (the 101 answer)
	queue  []byte // tunnel bytes waiting for a record
	queued int64  // bytes ever queued
	sent   int64  // bytes ever sent from the queue

	// The replay's waits for the peer's records (splitTrace's peerSince).
	peer           *recordCounter // the peer's records received, counted under TLS; nil: no waits
	ahead          *recordCounter // the client's: read ahead of TLS while the replay runs (readahead.go)
	base           int64          // the peer's records counted before the trace's first (startShaping)
	requestRecords int            // the request's records (in the client's plan, at its start)
	corked         bool           // the replay collects a burst of records (replay's goroutine only)
	kick           chan struct{}  // a record received or a write queued: waits look again

	// The end of a client's replay (setTail): the peer's records the
	// trace shows in all, which it waits for before sending what the trace
	// had no room for (a browser sends nothing more on an HTTP/1.1
	// connection until its answer came), and the data frames after the
	// replay that still fall in the 2024 rule's window of ten client
	// records (smallRest), of which largeLeft may still be large
	// (recordRuleSize or more) without making three with the trace's:
	// the rest are cut under it (ruleCap). Guarded by the conn's writeMu.
	tailPeer  int
	smallRest int
	largeLeft int

	// gotData: the peer's tunnel bytes have arrived. The relay's large
	// records wait for bytes to carry only then: before, nothing is
	// coming (a client replaying an HTTP/1.1 cover's trace holds its first
	// message until the relay's records of the trace came), and the wait
	// only pulled apart what the trace shows together (nginx's two session
	// tickets, 10-100 ms apart instead of under 1 ms: the lab's
	// classifier weighed that +3.4 towards a tunnel).
	gotData atomic.Bool
}

// setTail sets the end of a client's replay of trace (shaper's tailPeer
// and smallRest).
func (s *shaper) setTail(trace []shapeRecord) {
	large := 0
	for _, r := range trace {
		switch {
		case !r.up:
			s.tailPeer++
		case r.size >= recordRuleSize:
			large++
		}
	}
	if keepUnderRecordRule {
		s.smallRest = 10 // the rule's window: ten records
		s.largeLeft = max(0, 2-large)
	}
}

// ruleCap returns the most payload the next data frame of n bytes to send
// may carry under the 2024 rule's window (setTail), and counts the frame.
// Every data frame goes through it: those queued during the replay and
// those written after it ended (a client setting its session up writes
// several messages of 512-768 bytes right after the opening, and the lab's
// record-shape rule black-holed such a flow). The caller holds writeMu.
func (s *shaper) ruleCap(n int) int {
	if s.smallRest <= 0 {
		return maxFramePayload
	}
	s.smallRest--
	small := recordRuleSize - 1 - tlsRecordOverhead - 8 // a masked frame's header: 8 bytes
	if n > small && s.largeLeft > 0 {
		s.largeLeft--
		return maxFramePayload
	}
	return small
}

// watch makes the replay's waits count the records rc counts.
func (s *shaper) watch(rc *recordCounter) {
	if s.kick == nil {
		s.kick = make(chan struct{}, 1)
	}
	s.peer = rc
	rc.s.Store(s)
}

// peerRecords returns how many records the peer's side has delivered.
func (s *shaper) peerRecords() int64 {
	if s.peer == nil {
		return 1 << 40
	}
	return s.peer.records.Load()
}

// hasBytes reports whether anything waits to go out.
func (s *shaper) hasBytes() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0 || len(s.raw) > 0
}

// poke wakes the replay's wait.
func (s *shaper) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// waitUntil waits until cond holds or deadline passes; false when the
// conn closed meanwhile.
func (c *wsConn) waitUntil(deadline time.Time, cond func() bool) bool {
	return waitKicked(c.shape.kick, c.closed, deadline, cond)
}

// waitKicked waits until cond holds or deadline passes, looking again at
// each kick; false when closed closes meanwhile.
func waitKicked(kick <-chan struct{}, closed <-chan struct{}, deadline time.Time, cond func() bool) bool {
	for !cond() {
		wait := time.Until(deadline)
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-kick:
		case <-closed:
			t.Stop()
			return false
		}
		t.Stop()
	}
	return true
}

// startShaping replays plan (the trace's records of this side, timed from
// start) in the background. An empty plan shapes nothing.
func (c *wsConn) startShaping(plan []shapeRecord, start time.Time) {
	if len(plan) == 0 {
		return
	}
	c.shape.cond = sync.NewCond(&c.shape.mu)
	c.shape.active = true
	// The server counts the client's records from the start: its Finished
	// and the request records. The client counts from the handshake's end,
	// before it reads anything; one that watches no records (the relay
	// sends no preamble, DialConfig.NoPreamble) waits for none.
	c.shape.base = int64(1 + c.shape.requestRecords)
	if c.client && c.shape.peer != nil {
		c.shape.base = c.shape.peerRecords()
	}
	if c.shape.kick == nil {
		c.shape.kick = make(chan struct{}, 1)
	}
	if c.client && c.shape.peer != nil {
		c.shape.ahead = c.shape.peer
		c.shape.ahead.startReadAhead()
	}
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
	s.poke()
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

// Waits of the replay: at most peerWait for the peer's records the trace
// shows before a record, and dataWait for bytes to carry in a large one.
const (
	peerWait = 300 * time.Millisecond
	dataWait = 50 * time.Millisecond
)

// replay sends each planned record at its time, then what is left queued,
// and ends the replay. A record the trace shows after the peer's waits
// until something was read since this side's previous record (a browser
// answers what it received), and a large record with nothing to carry
// waits a little for the tunnel's bytes; such waits push the later records
// back by as much, keeping the trace's gaps. It stops early when the conn
// closes.
func (c *wsConn) replay(plan []shapeRecord, start time.Time) {
	s := &c.shape
	defer func() {
		c.flushBurst()
		if s.ahead != nil {
			s.ahead.stopReadAhead()
		}
		s.mu.Lock()
		s.active = false
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	var lastSent time.Time
	dataWaits := true
	for i, r := range plan {
		base := s.peerBase(c.client)
		want := int64(r.peerSince)
		wait := peerWait
		if c.client && i < s.requestRecords {
			wait = requestLeadMost // a relay behind a web server sends no preface
		}
		if !c.waitUntil(time.Now().Add(wait), func() bool { base = s.peerBase(c.client); return s.peerRecords()-base >= want }) {
			return
		}
		if s.peerRecords()-base < want {
			// The peer does not follow the trace (a web server in front
			// re-frames the relay's records): stop waiting for it.
			s.peer = nil
		}
		if !sleepUntil(s.dueAt(r, start, lastSent, base+want), c.closed) {
			return
		}
		if r.size >= requestRecordLeast && (c.client || s.gotData.Load()) && !c.waitForData(&dataWaits) {
			return
		}
		// Records the trace shows in one burst (no gap) go out in one TCP
		// write, as a browser's do, when nothing holds the next one back.
		burst := false
		if i+1 < len(plan) && c.cork != nil {
			next := plan[i+1]
			burst = next.gap == 0 && !next.predPeer && (next.size < requestRecordLeast || s.hasBytes())
		}
		if burst && !s.corked {
			c.cork.cork()
			s.corked = true
		}
		if !c.sendPlanned(r.size-tlsRecordOverhead) || !burst && !c.flushBurst() {
			return
		}
		lastSent = time.Now()
	}
	if !c.flushBurst() {
		return
	}
	if s.tailPeer > 0 {
		base := s.peerBase(c.client)
		if !c.waitUntil(time.Now().Add(peerWait), func() bool { base = s.peerBase(c.client); return s.peerRecords()-base >= int64(s.tailPeer) }) {
			return
		}
	}
	c.sendRest()
}

// waitForData waits up to dataWait for tunnel bytes to carry in a large
// record, while *waits holds; a wait that runs out clears it, so later
// records do not wait: nothing is coming soon. (The relay of an upload,
// whose upstream answers nothing, spent 50 ms on each large record of its
// trace, 100 ms an opening in most traces.) False when the conn is
// unusable.
func (c *wsConn) waitForData(waits *bool) bool {
	s := &c.shape
	if !*waits || s.hasBytes() {
		return true
	}
	if !c.flushBurst() || !c.waitUntil(time.Now().Add(dataWait), s.hasBytes) {
		return false
	}
	*waits = s.hasBytes()
	return true
}

// peerBase returns the peer's records counted before the trace's first.
// The client's count at the handshake's end may lack the relay's session
// ticket (NewSessionTicket, RFC 8446 §4.6.1, sent after its Finished and
// read whenever the TLS layer reads on): until the ticket was handled, one
// more record is taken as the ticket; then the count when it was.
func (s *shaper) peerBase(client bool) int64 {
	if !client || s.peer == nil {
		return s.base
	}
	if at := s.peer.ticketAt.Load(); at > 0 {
		return at
	}
	return s.base + 1
}

// dueAt returns when a planned record goes out: as long after the record
// the trace shows before it as the browser took, that record being the
// peer's latest one it waited for (its arrival) or this side's previous
// one; the plan's first record goes at its time after start.
func (s *shaper) dueAt(r shapeRecord, start, lastSent time.Time, peerCount int64) time.Time {
	switch {
	case r.predPeer && peerCount > 0 && s.peer != nil:
		if at, ok := s.peer.arrival(peerCount); ok {
			return at.Add(answerGap(r.gap))
		}
	case !r.predPeer && !lastSent.IsZero():
		return lastSent.Add(r.gap)
	}
	return start.Add(r.at)
}

// replayOwnWay is what the replay's own way adds to an answer's gap: the
// trace's gap after a peer record runs from that record passing the
// recording tap to the answer passing it back, so it holds the way to
// the server and back; the replay counts from the record's arrival at
// this end, read by the TLS layer, and its answer then takes that way
// again (the conn's reader waking, the replay's goroutine waking, the
// write, the way back). Measured on loopback against Chromium's loads of
// the cover site (TestShapeClassifier, docs/spec/transports.md): answers
// came 0.06-0.16 ms later than the browser's (the median of each kind).
const replayOwnWay = 100 * time.Microsecond

// answerGap returns how long after the peer's record's arrival an answer
// the trace shows gap after it goes.
func answerGap(gap time.Duration) time.Duration {
	return max(gap-replayOwnWay, 0)
}

// sendRest sends what the replay's records had no room for, unshaped,
// and ends the replay: what Writes queue meanwhile goes out in turn, and
// the replay ends only with nothing queued. (It ended after the last
// bytes it took, so a Write queued in between was left behind and failed,
// TestNoWriteLostAtTheReplaysEnd.)
func (c *wsConn) sendRest() {
	s := &c.shape
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	for c.writeErr == nil && !c.closeSent {
		s.mu.Lock()
		rest, raw := s.queue, s.raw
		s.queue, s.raw = nil, nil
		if len(rest) == 0 && len(raw) == 0 {
			s.active = false
			s.cond.Broadcast()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if len(raw) > 0 {
			if _, err := c.tc.Write(raw); err != nil {
				c.writeErr = fmt.Errorf("tlsws: writing: %w", err)
				return
			}
		}
		c.sendQueued(rest)
	}
}

// sendQueued sends queued bytes as frames, the first ones under the 2024
// rule (ruleCap). The caller holds writeMu.
func (c *wsConn) sendQueued(rest []byte) {
	s := &c.shape
	for len(rest) > 0 && c.writeErr == nil && !c.closeSent {
		chunk := rest[:min(len(rest), s.ruleCap(len(rest)))]
		if c.writeFrameLocked(opBinary, chunk) != nil {
			return
		}
		rest = rest[len(chunk):]
		s.mu.Lock()
		s.sent += int64(len(chunk))
		s.mu.Unlock()
	}
}

// flushBurst writes a burst of records the replay collected; false when
// the conn is unusable.
func (c *wsConn) flushBurst() bool {
	if !c.shape.corked {
		return true
	}
	c.shape.corked = false
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.cork.uncork(); err != nil && c.writeErr == nil {
		c.writeErr = fmt.Errorf("tlsws: writing: %w", err)
	}
	return c.writeErr == nil
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
	raw := s.raw[:min(len(s.raw), size)]
	var data []byte
	if len(raw) == len(s.raw) {
		data = s.queue[:fitData(size-len(raw), len(s.queue), c.client)]
	}
	s.mu.Unlock()
	if err := c.writeRecordLocked(raw, data, size-len(raw)-frameLen(len(data), c.client)); err != nil {
		return false
	}
	s.mu.Lock()
	s.raw = s.raw[len(raw):]
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

// writeRecordLocked writes raw bytes, then data (if any) as a binary frame
// and pad bytes of pong frames (headers included), in one TLS Write. The
// caller holds writeMu.
func (c *wsConn) writeRecordLocked(raw, data []byte, pad int) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	buf := append([]byte{}, raw...)
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
