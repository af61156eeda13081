package tlsws

import (
	"bufio"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// wsConn is a net.Conn over a WebSocket (RFC 6455) on a TLS conn, carrying
// our bytes in binary messages. Read parses frames straight off the TLS
// conn; Write sends a call, or the calls merged behind a send in flight,
// as one frame (a longer one as several) with a single Write on the TLS
// conn. Deadlines go to the TLS conn: crypto/tls
// keeps a conn usable after a read timeout (a partial record stays
// buffered), and the frame parser consumes a header only once it is whole,
// so a read timeout loses nothing.
type wsConn struct {
	tc            net.Conn  // the TLS conn: frames go out through it, deadlines are set on it
	raw           net.Conn  // the TCP conn under tc: closed to tear everything down
	cork          *corkConn // raw, when it can collect a frame's records for one syscall
	client        bool      // we mask what we send and expect unmasked frames (RFC 6455 §5.1)
	local, remote net.Addr

	readMu      sync.Mutex    // serialises Read; guards the fields down to readErr
	src         io.Reader     // what the HTTP handshake left buffered, then tc
	br          *bufio.Reader // frame headers (and small payloads) come through it
	payloadLeft int64         // unread payload bytes of the current data frame
	payloadPos  int64         // offset into the current frame's payload, for unmasking
	unmask      maskPattern   // the current frame's mask (server side)
	masked      bool          // the current frame is masked
	inMessage   bool          // a fragmented data message is open
	readErr     error         // sticky: the peer closed (io.EOF) or the stream broke

	writeMu   sync.Mutex    // serialises frame writes; Close tells from it whether a Write is blocked
	maskRand  *rand.ChaCha8 // mask keys (RFC 6455 §5.3: unpredictable); seeded from crypto/rand
	rng       *rand.Rand    // shaping draws (shape.go), from maskRand
	shape     shaper        // the opening's replay (shape.go)
	mask      maskPattern
	writeErr  error // sticky: a frame was cut off, the WebSocket is unusable
	closeSent bool  // a close frame went out; no more frames may follow

	dlMu     sync.Mutex // guards the deadlines and their hand-off to tc
	readDL   time.Time
	writeDL  time.Time
	isClosed atomic.Bool
	closed   chan struct{} // closed by Close

	pongBusy atomic.Bool // a pong is waiting for a Write to finish

	wq writeQueue // Writes waiting behind the one being sent (coalesce.go)
}

// readBufSize holds a TLS record's plaintext (16 KiB) and a frame header.
const readBufSize = 16<<10 + 512

// closeTimeout bounds the close handshake after Close.
const closeTimeout = 5 * time.Second

// newWSConn takes over tc after the HTTP upgrade. src yields what the HTTP
// layer already read past the upgrade, then reads tc.
func newWSConn(tc, raw net.Conn, src io.Reader, client bool) *wsConn {
	var seed [32]byte
	crand.Read(seed[:])
	cork, _ := raw.(*corkConn)
	mr := rand.NewChaCha8(seed)
	return &wsConn{
		tc: tc, raw: raw, cork: cork, client: client,
		local: raw.LocalAddr(), remote: raw.RemoteAddr(),
		src: src, br: bufio.NewReaderSize(src, readBufSize),
		maskRand: mr, rng: rand.New(mr),
		closed: make(chan struct{}),
	}
}

// Read reads bytes the peer wrote; after the peer's Close it returns io.EOF.
// It waits for the first byte, then adds whatever else has already been
// received, across frames (and TLS records), without waiting again
// (readReceived), so that a relay forwards many small messages with one
// write.
func (c *wsConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.isClosed.Load() {
		return 0, errClosed("reading")
	}
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.deadlinePassed(&c.readDL) {
		return 0, timeoutError{"reading"}
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.readPayload(p)
	if err != nil || n == len(p) {
		return n, err
	}
	return n + c.readReceived(p[n:]), nil
}

// readPayload reads from the current data frame's payload, waiting for the
// next data frame when the current one is done. The caller holds readMu.
func (c *wsConn) readPayload(p []byte) (int, error) {
	for c.payloadLeft == 0 {
		if err := c.nextDataFrame(); err != nil {
			return 0, c.readFailed(err)
		}
	}
	c.shape.gotData.Store(true) // the replay's waits for bytes to carry (shape.go)
	if int64(len(p)) > c.payloadLeft {
		p = p[:c.payloadLeft]
	}
	var n int
	var err error
	if c.br.Buffered() == 0 && len(p) >= 4<<10 {
		// Large reads skip the buffer: the TLS conn decrypts into p.
		n, err = c.src.Read(p)
	} else {
		n, err = c.br.Read(p)
	}
	if c.masked {
		c.unmask.xor(p[:n], p[:n], c.payloadPos)
	}
	c.payloadPos += int64(n)
	c.payloadLeft -= int64(n)
	if n > 0 {
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the TLS stream ended inside a frame
	}
	return 0, c.readFailed(err)
}

// nextDataFrame reads frame headers, answering control frames, until a data
// frame with payload starts. A header is consumed only once it (and a control
// frame's payload) is all buffered, so a timeout leaves the stream intact.
func (c *wsConn) nextDataFrame() error {
	for {
		var h frameHeader
		need := 2
		var err error
		for {
			buf, perr := c.br.Peek(need)
			var n int
			h, n, err = parseFrameHeader(buf)
			if err != errShortHeader {
				need = n
				break
			}
			if perr != nil {
				return perr
			}
			need = n
		}
		if err != nil {
			return protocolError{err.Error()}
		}
		// RFC 6455 §5.1: a server must get masked frames, a client unmasked ones.
		if h.masked == c.client {
			return protocolError{"wrong masking for this side"}
		}
		if h.opcode >= opClose {
			frame, err := c.br.Peek(need + int(h.length))
			if err != nil {
				return err
			}
			payload := append([]byte(nil), frame[need:]...)
			c.br.Discard(len(frame))
			if h.masked {
				var m maskPattern
				m.set(h.key)
				m.xor(payload, payload, 0)
			}
			if err := c.control(h.opcode, payload); err != nil {
				return err
			}
			continue
		}
		c.br.Discard(need)
		// RFC 6455 §5.4: continuation frames only inside a fragmented
		// message, new messages only outside one.
		switch {
		case h.opcode == opContinuation && !c.inMessage:
			return protocolError{"continuation frame outside a message"}
		case h.opcode != opContinuation && c.inMessage:
			return protocolError{"new message inside a fragmented one"}
		case h.opcode == opText:
			c.readErr = errors.New("tlsws: reading: peer sent a text message")
			c.sendClose(statusUnsupportedData)
			return c.readErr
		}
		c.inMessage = !h.fin
		c.payloadLeft, c.payloadPos, c.masked = h.length, 0, h.masked
		if h.masked {
			c.unmask.set(h.key)
		}
		if h.length > 0 {
			return nil
		}
	}
}

// control answers a ping and ends the stream on a close (RFC 6455 §5.5).
func (c *wsConn) control(opcode byte, payload []byte) error {
	switch opcode {
	case opPing:
		c.sendPong(payload)
	case opClose:
		status := statusNoStatus
		if len(payload) >= 2 {
			status = int(binary.BigEndian.Uint16(payload))
		}
		// RFC 6455 §5.5.1: answer with a close frame (echoing the status).
		c.sendClose(status)
		switch status {
		case statusNormal, statusGoingAway, statusNoStatus:
			c.readErr = io.EOF
		default:
			c.readErr = fmt.Errorf("tlsws: reading: peer closed the WebSocket with status %d", status)
		}
		return c.readErr
	}
	return nil
}

// protocolError is a frame that breaks RFC 6455; the WebSocket is closed with 1002.
type protocolError struct{ what string }

func (e protocolError) Error() string { return "tlsws: reading: WebSocket protocol error: " + e.what }

// readFailed turns a read error into what Read returns, and makes it sticky
// unless it is a timeout.
func (c *wsConn) readFailed(err error) error {
	if c.isClosed.Load() {
		return errClosed("reading")
	}
	if c.readErr != nil {
		return c.readErr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return timeoutError{"reading"}
	}
	var pe protocolError
	switch {
	case errors.As(err, &pe):
		c.sendClose(statusProtocolError)
		c.readErr = pe
	case err == io.EOF:
		c.readErr = fmt.Errorf("tlsws: reading: %w", io.ErrUnexpectedEOF) // TCP ended without a close frame
	default:
		c.readErr = fmt.Errorf("tlsws: reading: %w", err)
	}
	return c.readErr
}

// Write sends p in a binary message. On an idle conn p goes out at once,
// in the caller, as one message (several above 64 KiB), and Write returns
// once it was handed to the TLS conn (the kernel); a Write that arrives
// while another is being sent waits, and is sent together with every Write
// that waited meanwhile, in order, as one message. A single writer back
// sooner than its last send took (and within 1 ms) writes behind: Write returns once p is
// queued (up to 64 KiB queued; beyond, it waits), a send behind that fails
// makes later Writes fail, and Close sends what is queued first
// (writeMerged, coalesce.go). A write deadline that
// expires while a frame is being written tears the WebSocket down (half a
// frame cannot be taken back), as does one that expires while a Write
// waits behind another; one that expired before Write leaves the conn
// intact.
func (c *wsConn) Write(p []byte) (int, error) {
	if len(p) > 0 && !c.isClosed.Load() {
		if n, handled, err := c.writeQueued(p); handled {
			return n, err
		}
	}
	return c.writeMerged(p)
}

// sendData sends p as binary frames now. It is Write without the opening's
// replay and without merging.
func (c *wsConn) sendData(p []byte) (int, error) { return c.send(p, false) }

// send sends p as binary frames; behind (a write-behind flush, which Close
// waits for) sends after Close too.
func (c *wsConn) send(p []byte, behind bool) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.isClosed.Load() && !behind {
		return 0, errClosed("writing")
	}
	if c.deadlinePassed(&c.writeDL) {
		return 0, timeoutError{"writing"}
	}
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	if c.closeSent {
		return 0, errClosed("writing")
	}
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), c.shape.ruleCap(len(p)))]
		if err := c.writeFrameLocked(opBinary, chunk); err != nil {
			switch {
			case c.isClosed.Load():
				return written, errClosed("writing")
			case c.deadlinePassed(&c.writeDL):
				return written, timeoutError{"writing"}
			}
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

// writeFrameLocked writes one final frame with one Write on the TLS conn.
// The caller holds writeMu.
func (c *wsConn) writeFrameLocked(opcode byte, payload []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	bp := frameBufs.Get().(*[]byte)
	defer frameBufs.Put(bp)
	var key [4]byte
	if c.client {
		binary.LittleEndian.PutUint32(key[:], uint32(c.maskRand.Uint64()))
	}
	frame := appendFrameHeader((*bp)[:0], opcode, len(payload), c.client, key)
	hdr := len(frame)
	frame = frame[:hdr+len(payload)]
	if c.client {
		c.mask.set(key)
		c.mask.xor(frame[hdr:], payload, 0)
	} else {
		copy(frame[hdr:], payload)
	}
	corked := c.cork != nil && len(frame) > corkMin
	if corked {
		c.cork.cork()
	}
	_, err := c.tc.Write(frame)
	if corked {
		if uerr := c.cork.uncork(); err == nil {
			err = uerr
		}
	}
	if err != nil {
		c.writeErr = fmt.Errorf("tlsws: writing: %w", err)
		return c.writeErr
	}
	return nil
}

// sendPong answers a ping now, or after the Write in progress.
func (c *wsConn) sendPong(payload []byte) {
	if c.writeMu.TryLock() {
		defer c.writeMu.Unlock()
		if !c.closeSent {
			c.writeFrameLocked(opPong, payload)
		}
		return
	}
	if !c.pongBusy.CompareAndSwap(false, true) {
		return // one pending pong is enough (RFC 6455 §5.5.3 allows answering only the latest ping)
	}
	go func() {
		defer c.pongBusy.Store(false)
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		if !c.closeSent {
			c.writeFrameLocked(opPong, payload)
		}
	}()
}

// sendClose sends a close frame once, now or after the Write in progress.
func (c *wsConn) sendClose(status int) {
	var payload []byte
	if status != statusNoStatus {
		payload = binary.BigEndian.AppendUint16(nil, uint16(status))
	}
	send := func() {
		if !c.closeSent {
			c.closeSent = true
			c.writeFrameLocked(opClose, payload)
		}
	}
	if c.writeMu.TryLock() {
		defer c.writeMu.Unlock()
		send()
		return
	}
	go func() {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		send()
	}()
}

// abandon tears down a conn that never became a tunnel (its upgrade
// failed): it stops the replay and closes the TCP conn, with no close
// handshake.
func (c *wsConn) abandon() {
	c.dlMu.Lock()
	if !c.isClosed.Load() {
		c.isClosed.Store(true)
		close(c.closed)
	}
	c.dlMu.Unlock()
	c.raw.Close()
}

// Close closes the conn at once for the caller; the WebSocket close
// handshake (which lets the peer read io.EOF after all data) finishes in the
// background within closeTimeout. If a Write is blocked, the TCP conn is torn
// down instead, which unblocks it.
func (c *wsConn) Close() error {
	c.dlMu.Lock()
	if c.isClosed.Load() {
		c.dlMu.Unlock()
		return nil
	}
	c.isClosed.Store(true)
	close(c.closed)
	c.tc.SetReadDeadline(time.Unix(1, 0)) // unblocks a blocked Read
	c.dlMu.Unlock()
	c.wq.wake()
	if c.wq.behind() {
		// Written bytes still queued go out first, within closeTimeout.
		c.tc.SetWriteDeadline(time.Now().Add(closeTimeout))
		go func() {
			c.wq.waitFlushed()
			c.writeMu.Lock()
			c.finishClose()
		}()
		return nil
	}
	if !c.writeMu.TryLock() {
		c.raw.Close()
		return nil
	}
	go c.finishClose()
	return nil
}

// finishClose sends our close frame, waits for the peer's and closes the
// TLS conn. The caller holds writeMu, which it releases.
func (c *wsConn) finishClose() {
	c.tc.SetWriteDeadline(time.Now().Add(closeTimeout))
	sent := !c.closeSent && c.writeErr == nil
	if !c.closeSent {
		c.closeSent = true
		c.writeFrameLocked(opClose, binary.BigEndian.AppendUint16(nil, statusNormal))
	}
	c.writeMu.Unlock()
	c.readMu.Lock() // a blocked Read returns first (its deadline passed)
	defer c.readMu.Unlock()
	if sent && c.readErr == nil {
		// Wait for the peer's close frame, dropping data, so that our
		// TCP close does not reset what the peer has not read yet.
		c.tc.SetReadDeadline(time.Now().Add(closeTimeout))
		for {
			if _, err := c.br.Discard(int(c.payloadLeft)); err != nil {
				break
			}
			c.payloadLeft = 0
			if c.nextDataFrame() != nil {
				break // the peer's close frame (readErr is set), or an error
			}
		}
	}
	c.tc.Close()
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline hands the deadline to the TLS conn; after Close it is ignored.
func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.isClosed.Load() {
		return nil
	}
	c.readDL = t
	return c.tc.SetReadDeadline(t)
}

// SetWriteDeadline hands the deadline to the TLS conn; after Close it is ignored.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.isClosed.Load() {
		return nil
	}
	c.writeDL = t
	return c.tc.SetWriteDeadline(t)
}

// deadlinePassed says whether the deadline *dl (readDL or writeDL) is set and past.
func (c *wsConn) deadlinePassed(dl *time.Time) bool {
	c.dlMu.Lock()
	t := *dl
	c.dlMu.Unlock()
	return !t.IsZero() && !time.Now().Before(t)
}

func errClosed(op string) error { return fmt.Errorf("tlsws: %s: %w", op, net.ErrClosed) }

// timeoutError is what an expired deadline returns: a net.Error with
// Timeout() true that wraps os.ErrDeadlineExceeded.
type timeoutError struct{ op string }

func (e timeoutError) Error() string   { return "tlsws: " + e.op + ": i/o timeout" }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }
func (e timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }
