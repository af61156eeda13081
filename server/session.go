package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// session is one client's secure channel. Its reader goroutine (run) reads
// and answers requests one at a time, which keeps the Sends of a session in
// order; Deliver pushes come from a short-lived goroutine (push.go) that
// exits when the mailbox is drained. GetChunk answers are sealed and
// written by a sender goroutine while the reader reads the next chunk
// (blob_ahead.go), in order, before any later answer.
type session struct {
	srv    *Server
	conn   net.Conn
	sc     *securechan.Conn
	ip     netip.Addr
	device store.DeviceID // SHA-256 of the authenticated device key
	key    [32]byte       // the authenticated device key

	// Touched only by the reader goroutine.
	version    uint16 // negotiated; 0 before ClientHello
	registered bool   // the device was found registered (revocation closes the session)

	draining atomic.Bool
	closing  atomic.Bool // a connection-level error was sent or the session is closing

	pipe *pipeline // Sends queued in the store and not answered yet (pipeline.go); made by the first Send

	puts chan struct{} // PutChunks being stored (blob.go); made by the first one

	chunks *chunkQueue // GetChunk answers read and not sent yet (blob_ahead.go); made by the first GetChunk

	pmu        sync.Mutex // guards the push state below
	subscribed bool
	pushing    bool   // a push goroutine is running
	dirty      bool   // news arrived while pushing
	sentSeq    uint64 // highest seq pushed
	ackedSeq   uint64 // highest seq acknowledged
	markers    int    // CaughtUp pushes asked for and not sent (wire.md §6.6a)
}

// serveConn runs the handshake on conn and, if it succeeds, starts the
// session in a fresh goroutine: the handshake grows its goroutine's stack
// (ML-KEM, X25519) and a new goroutine starts small, which matters for
// thousands of idle sessions.
func (s *Server) serveConn(ctx context.Context, conn net.Conn, ip netip.Addr) {
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	sc, err := s.sc.Accept(hctx, conn)
	cancel()
	if err != nil {
		s.metrics.HandshakesFailed.Add(1)
		s.refusals.log(handshakeReason(err), "remote", addrKey(ip))
		conn.Close()
		s.connDone(ip)
		return
	}
	go s.runSession(conn, sc, ip)
}

// connStart counts a new connection from ip against the session caps; it
// returns why it is refused, or "" if it may go on (then connDone must
// follow).
func (s *Server) connStart(ip netip.Addr) string {
	if n := s.active.Add(1); s.cfg.MaxSessions > 0 && n > int64(s.cfg.MaxSessions) {
		s.active.Add(-1)
		return "session cap"
	}
	key := addrKey(ip)
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	if s.cfg.MaxSessionsPerAddr > 0 && s.activeAddr[key] >= s.cfg.MaxSessionsPerAddr {
		s.active.Add(-1)
		return "session cap per address"
	}
	s.activeAddr[key]++
	return ""
}

// connDone ends the accounting of a connection that Serve let in.
func (s *Server) connDone(ip netip.Addr) {
	key := addrKey(ip)
	s.addrMu.Lock()
	if s.activeAddr[key]--; s.activeAddr[key] <= 0 {
		delete(s.activeAddr, key)
	}
	s.addrMu.Unlock()
	s.active.Add(-1)
	s.sessionsWG.Done()
}

// handshakeReason names why a handshake failed, for the refusal log.
func handshakeReason(err error) string {
	switch {
	case errors.Is(err, securechan.ErrNotAuthentic):
		return "handshake: not for this server key (a probe or a wrong link)"
	case errors.Is(err, securechan.ErrReplay):
		return "handshake: replayed first message"
	case errors.Is(err, securechan.ErrStale):
		return "handshake: client clock outside the window"
	case errors.Is(err, securechan.ErrBusy):
		return "handshake: replay cache full and no retry"
	case errors.Is(err, securechan.ErrDeviceAuth), errors.Is(err, securechan.ErrMalformed):
		return "handshake: malformed or bad device signature"
	case errors.Is(err, context.DeadlineExceeded):
		return "handshake: timed out"
	}
	return "handshake: connection failed"
}

// idleHandoff is how long a session waits for its next frame on the
// goroutine that handled the last one before it moves the wait to a fresh
// goroutine (park). Handling requests (signatures, store calls) grows a
// goroutine's stack to 8 KiB or more, which the runtime gives back only
// slowly (halving it at most once per GC cycle); a fresh goroutine that
// only waits keeps the smallest stack, which matters for thousands of idle
// sessions. Busy sessions never hand off.
const idleHandoff = time.Second

// runSession serves an established session until it ends.
func (s *Server) runSession(conn net.Conn, sc *securechan.Conn, ip netip.Addr) {
	pub := sc.PeerDevice()
	ss := &session{srv: s, conn: conn, sc: sc, ip: ip, device: sha256.Sum256(pub)}
	copy(ss.key[:], pub)

	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		ss.fail(0, &wire.Error{Code: wire.CodeUnavailable, RetryAfter: 5, Message: "the server is restarting; reconnect"})
		conn.Close()
		s.connDone(ss.ip)
		return
	}
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	s.hub.add(ss)
	s.metrics.OpenSessions.Add(1)
	ss.serve(nil, false)
}

// serve runs the session on the calling goroutine until it ends (and then
// cleans up) or hands its idle wait off to a fresh goroutine.
func (ss *session) serve(waitErr error, resumed bool) {
	if ss.run(waitErr, resumed) {
		return // handed off
	}
	s := ss.srv
	ss.drainPipeline() // answer what was queued before the session ends
	ss.drainChunks()
	s.hub.remove(ss)
	s.chans.dropSession(ss) // channel.go
	ss.stopPush()
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	s.metrics.OpenSessions.Add(-1)
	ss.sc.Close()
	ss.conn.Close()
	s.connDone(ss.ip)
}

// park is an idle session's whole goroutine while it waits: a small frame
// on a fresh stack.
func (ss *session) park() {
	err := ss.sc.WaitReadable()
	ss.serve(err, true)
}

// run reads and answers frames until the session ends (false) or goes
// idle and hands its wait off to park on a fresh goroutine (true). When
// resumed, waitErr is the result of park's wait for the first frame.
func (ss *session) run(waitErr error, resumed bool) (handedOff bool) {
	s := ss.srv
	var current wire.Type // the request being handled, for the panic log
	defer func() {
		if v := recover(); v != nil {
			s.metrics.Panics.Add(1)
			// The panic value may quote input; log only its type and the stack.
			s.log.Error("panic in session handler; closing the session",
				"request", current.String(), "panic_type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			ss.fail(0, wire.Errorf(wire.CodeInternal, "the server had a problem; reconnect and retry"))
			handedOff = false
		}
	}()
	for {
		if !resumed {
			idleUntil := time.Now().Add(s.cfg.IdleTimeout)
			handoff := min(idleHandoff, s.cfg.IdleTimeout)
			ss.sc.SetReadDeadline(time.Now().Add(handoff))
			if ss.draining.Load() {
				ss.fail(0, &wire.Error{Code: wire.CodeUnavailable, RetryAfter: 5, Message: "the server is restarting; reconnect"})
				return false
			}
			// Wait without holding a record buffer (securechan takes one only
			// once bytes arrive), which keeps idle sessions small.
			waitErr = ss.sc.WaitReadable()
			if waitErr != nil && isTimeout(waitErr) && handoff < s.cfg.IdleTimeout && !ss.draining.Load() {
				ss.sc.SetReadDeadline(idleUntil)
				if !ss.draining.Load() { // startDrain's wake-up deadline came before ours
					go ss.park()
					return true
				}
			}
		}
		resumed = false
		if err := waitErr; err != nil {
			if ss.draining.Load() {
				ss.fail(0, &wire.Error{Code: wire.CodeUnavailable, RetryAfter: 5, Message: "the server is restarting; reconnect"})
			} else if isTimeout(err) {
				ss.fail(0, wire.Errorf(wire.CodeBadRequest, "the channel was silent for %v; send Ping every ~30s", s.cfg.IdleTimeout))
			}
			return false
		}
		ss.sc.SetReadDeadline(time.Now().Add(s.cfg.FrameTimeout))
		msg, err := ss.sc.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) && !ss.closing.Load() {
				s.log.Debug("session ended", "remote", ss.ip, "err", err)
			}
			return false
		}
		var h wire.Header
		h, msg = ss.prepare(msg)
		current = h.Type
		if msg == nil {
			return false
		}
		if !ss.handleFrame(h, msg) {
			return false
		}
	}
}

// prepare checks a received frame's size and header. It returns nil (after
// sending the error) when the session must close.
func (ss *session) prepare(msg []byte) (wire.Header, []byte) {
	s := ss.srv
	h, err := wire.ParseHeader(msg)
	switch {
	case len(msg) > int(s.cfg.Limits.MaxFrame):
		ss.protocolError(h.RequestID, wire.CodeTooLarge, "frame of %d bytes is over this server's limit of %d bytes (see ServerHello)", len(msg), s.cfg.Limits.MaxFrame)
		return h, nil
	case errors.Is(err, wire.ErrUnsupportedVersion):
		ss.protocolError(h.RequestID, wire.CodeUnsupportedVersion, "frame of version %d; server speaks versions %d..%d", h.Version, wire.Version, wire.Version)
		return h, nil
	case err != nil:
		ss.protocolError(0, wire.CodeBadRequest, "frame of %d bytes is shorter than the %d-byte header", len(msg), wire.HeaderSize)
		return h, nil
	}
	return h, msg
}

// handleFrame decodes and answers one frame; false means close.
func (ss *session) handleFrame(h wire.Header, msg []byte) bool {
	s := ss.srv
	if h.Type != wire.TypeGetChunk {
		ss.drainChunks() // blob_ahead.go: answered after the GetChunks before it
	}
	var f wire.Frame
	var err error
	if h.Type == wire.TypePutChunk {
		f, err = wire.DecodeShared(msg) // putChunkAsync releases msg once the chunk is stored
	} else {
		f, err = wire.Decode(msg)
		securechan.ReleaseMessage(msg) // Decode copied what it kept
	}
	if err != nil {
		code := wire.CodeBadRequest
		if errors.Is(err, wire.ErrTooLarge) {
			code = wire.CodeTooLarge
		}
		ss.protocolError(h.RequestID, code, "%v", err)
		return false
	}
	t := f.Msg.Type()
	if t.Class() != wire.ClassRequest {
		ss.protocolError(f.RequestID, wire.CodeBadRequest, "%v is a message servers send, not clients", t)
		return false
	}
	s.metrics.frameIn(t)
	if ss.version == 0 {
		hello, ok := f.Msg.(*wire.ClientHello)
		if !ok {
			ss.protocolError(f.RequestID, wire.CodeBadRequest, "the first request must be ClientHello, not %v", t)
			return false
		}
		v, ok := wire.Negotiate(hello.MinVersion, hello.MaxVersion, wire.Version, wire.Version)
		if !ok {
			ss.protocolError(f.RequestID, wire.CodeUnsupportedVersion, "server speaks versions %d..%d", wire.Version, wire.Version)
			return false
		}
		ss.version = v
		return ss.reply(f.RequestID, &wire.ServerHello{Version: v, MinVersion: wire.Version, MaxVersion: wire.Version,
			ServerTime: uint64(s.cfg.Now().Unix()), Limits: s.cfg.Limits})
	}
	if t == wire.TypeClientHello {
		ss.protocolError(f.RequestID, wire.CodeBadRequest, "ClientHello may be sent only once per channel")
		return false
	}
	if e := ss.rateLimit(t); e != nil {
		ss.drainPipeline()
		ss.drainChunks()
		return ss.reply(f.RequestID, e)
	}
	if m, ok := f.Msg.(*wire.Send); ok {
		if async, ok := s.cfg.Store.(AsyncEnqueuer); ok {
			if e := ss.needDevice(); e != nil {
				ss.drainPipeline()
				return ss.reply(f.RequestID, e)
			}
			return ss.sendPipelined(f.RequestID, m, async)
		}
	}
	if ss.putChunkAsync(f, msg) { // blob.go: chunks are stored concurrently
		return !ss.closing.Load()
	}
	if m, ok := f.Msg.(*wire.GetChunk); ok {
		ss.drainPipeline()
		return ss.getChunkAhead(f.RequestID, m) // blob_ahead.go: read while the last one is sent
	}
	ss.drainPipeline() // every other request comes after the Sends before it
	resp, after := ss.dispatch(f.Msg)
	if !ss.reply(f.RequestID, resp) {
		return false
	}
	if after != nil {
		after()
	}
	return !ss.closing.Load()
}

// rateLimit takes a token from the address's and the device's buckets:
// the chunk buckets for a chunk request, the request buckets otherwise.
func (ss *session) rateLimit(t wire.Type) *wire.Error {
	s := ss.srv
	var ok bool
	var wait uint32
	if chunkRequest(t) {
		if ok, wait = s.chunkIP.allow(addrKey(ss.ip)); ok {
			ok, wait = s.chunkDev.allow(ss.device)
		}
	} else if ok, wait = s.reqIP.allow(addrKey(ss.ip)); ok {
		ok, wait = s.reqDevice.allow(ss.device)
	}
	if ok && t == wire.TypeClaimKeyPackages {
		ok, wait = s.claims.allow(ss.device)
	}
	if ok {
		return nil
	}
	s.metrics.RateLimited.Add(1)
	s.refusals.log("request rate", "remote", addrKey(ss.ip), "request", t.String())
	e := wire.Errorf(wire.CodeRateLimited, "too many requests; wait %d s", wait)
	e.RetryAfter = wait
	return e
}

// reply sends the answer to request id; false means the session is broken.
func (ss *session) reply(id uint32, m wire.Message) bool {
	return ss.write(wire.Frame{RequestID: id, Msg: m}) == nil
}

// frameBuffers hold encoded frames while the secure channel seals them
// (a 256 KiB chunk for a Chunk answer): Send has sealed a frame into its
// own records when it returns, so the buffer is reused at once.
var frameBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// write encodes and sends one frame.
func (ss *session) write(f wire.Frame) error {
	buf := frameBuffers.Get().(*[]byte)
	defer frameBuffers.Put(buf)
	b, err := ss.encode((*buf)[:0], &f)
	if err != nil {
		return err
	}
	*buf = b[:0]
	return ss.sendEncoded(b, f.Msg.Type())
}

// sendEncoded sends b, an encoded frame of a message of type t.
func (ss *session) sendEncoded(b []byte, t wire.Type) error {
	s := ss.srv
	ss.sc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err := ss.sc.Send(b); err != nil {
		return err
	}
	s.metrics.frameOut(t)
	return nil
}

// writeBatch encodes and sends frames in one write.
func (ss *session) writeBatch(frames []wire.Frame) error {
	s := ss.srv
	msgs := make([][]byte, len(frames))
	for i := range frames {
		b, err := ss.encode(nil, &frames[i])
		if err != nil {
			return err
		}
		msgs[i] = b
	}
	ss.sc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err := ss.sc.SendBatch(msgs); err != nil {
		return err
	}
	for _, f := range frames {
		s.metrics.frameOut(f.Msg.Type())
	}
	return nil
}

// encode appends f to dst; a frame that does not encode (a server bug)
// becomes Error{Internal} rather than nothing.
func (ss *session) encode(dst []byte, f *wire.Frame) ([]byte, error) {
	b, err := wire.AppendEncode(dst, *f)
	if err == nil {
		return b, nil
	}
	ss.srv.log.Error("encoding a response failed", "type", f.Msg.Type().String(), "err", err)
	f.Msg = wire.Errorf(wire.CodeInternal, "the server could not encode its answer")
	if f.RequestID == 0 && f.Msg.Type() != wire.TypeError {
		return nil, err
	}
	return wire.Encode(*f)
}

// protocolError answers a frame that breaks the protocol and closes the
// session: the client and the server no longer agree on what is going on.
// Only the reader goroutine calls it.
func (ss *session) protocolError(id uint32, code wire.ErrorCode, format string, args ...any) {
	ss.srv.metrics.BadFrames.Add(1)
	ss.drainChunks() // the GetChunks before it are answered first
	e := wire.Errorf(code, format, args...)
	ss.srv.log.Info("closing session after a bad frame", "remote", ss.ip, "code", code.String(), "reason", e.Message)
	ss.fail(id, e)
}

// fail sends e (a connection-level error when id is 0) once, then closes
// the session. It may be called from any goroutine.
func (ss *session) fail(id uint32, e *wire.Error) {
	if !ss.closing.CompareAndSwap(false, true) {
		return
	}
	ss.write(wire.Frame{RequestID: id, Msg: e})
	ss.sc.Close()
}

// startDrain asks the session to finish its current request and close.
func (ss *session) startDrain() {
	ss.draining.Store(true)
	ss.sc.SetReadDeadline(time.Now())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
