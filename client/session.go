package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Dialer opens a byte stream to a server address. Transports and relays
// plug in here; the default is plain TCP.
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

// TCPDialer dials addr directly over TCP.
func TCPDialer(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// ErrOffline: the operation needs the server and the client is not
// connected.
var ErrOffline = errors.New("client: not connected to the server; check the network and the server link, then try again")

// session is the client's Session to its server: pushes go to onDeliver,
// in order, from the reader goroutine.
type session struct {
	*Session
	hello *wire.ServerHello
	addr  string // the address dialed ("" through a reach path)
	// meter is the byte budget of the connection under the session, once
	// keepPath runs it (attach_parts.go).
	meter atomic.Pointer[byteMeter]
	// backlog is the connection's end of the backlog (sync.go).
	backlog *backlogMark
	// booked, when not nil, is closed once the connection's first fetch
	// of the endpoint book is over (reach.go), which Sync waits for too.
	booked   chan struct{}
	bookOnce sync.Once
}

// bookTried records that the connection's first fetch of the endpoint book
// is over, whatever its outcome.
func (s *session) bookTried() {
	if s != nil && s.booked != nil {
		s.bookOnce.Do(func() { close(s.booked) })
	}
}

// deliverHandler passes Deliver pushes to onDeliver and CaughtUp pushes
// to onCaughtUp (wire.md §6.6a), in order, and ends the session on any
// other push.
func deliverHandler(onDeliver func(*wire.Deliver), onCaughtUp func()) FrameHandler {
	return func(f wire.Frame) (bool, error) {
		switch m := f.Msg.(type) {
		case *wire.Deliver:
			onDeliver(m)
			return true, nil
		case *wire.CaughtUp:
			onCaughtUp()
			return true, nil
		}
		if f.RequestID != 0 {
			return false, nil
		}
		if e, ok := f.Msg.(*wire.Error); ok {
			// Keep the code (not the server's free-form text) so that the
			// client can act on it (DeviceRevoked, revoked.go).
			return true, fmt.Errorf("client: server closed the connection: %s: %w", e.Code.Text(), &wire.Error{Code: e.Code})
		}
		return true, errors.New("client: server sent an unexpected push")
	}
}

// dialSession dials the first address that answers, runs the securechan
// handshake pinned to the link's key and the wire hello. Its pushes go to
// in (nil: dropped).
func dialSession(ctx context.Context, dial Dialer, link ServerLink, device ed25519.PrivateKey, in *inbox) (*session, error) {
	var lastErr error = ErrOffline
	for _, addr := range link.Addrs {
		mark := in.newMark()
		ws, err := handshakeAt(ctx, dial, addr, SessionConfig{ServerPublic: link.Key, DeviceKey: device, Padding: securechan.PadToMultiple(256), OnFrame: in.frameHandler(mark)})
		if err != nil {
			lastErr = err
			continue
		}
		mark.sess.Store(ws)
		hello, err := ws.Hello(ctx)
		if err != nil {
			ws.End(err)
			return nil, fmt.Errorf("client: hello: %w", err)
		}
		return &session{Session: ws, hello: hello, addr: addr, backlog: mark}, nil
	}
	return nil, lastErr
}

// handshakeAt dials addr and runs the secure-channel handshake cfg pins,
// within 10 s for both; a failure is classed (errclass.go): the dial's as
// an *UnreachableError, the handshake's by handshakeError.
func handshakeAt(ctx context.Context, dial Dialer, addr string, cfg SessionConfig) (*Session, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := dial(dctx, addr)
	if err != nil {
		return nil, &UnreachableError{Addr: addr, Err: err}
	}
	s, err := Handshake(dctx, nc, cfg)
	if err != nil {
		return nil, handshakeError(addr, err)
	}
	return s, nil
}

func (s *session) call(ctx context.Context, req wire.Message) (wire.Message, error) {
	return s.Call(ctx, req)
}

func (s *session) close(err error) { s.End(err) }

func (s *session) deadErr() error { return s.Err() }

func (s *session) alive() bool { return s.Alive() }

// wireCode returns the protocol error code of err, or 0.
func wireCode(err error) wire.ErrorCode {
	var e *wire.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// userError turns a server error into what the user reads: the code's text
// and what to do next, never the server's free-form message.
func userError(doing string, err error) error {
	var revoked *RevokedError
	if errors.As(err, &revoked) {
		return revoked // already says what happened and what to do
	}
	var e *wire.Error
	if errors.As(err, &e) {
		return &RefusedError{Doing: doing, Code: e.Code}
	}
	return fmt.Errorf("client: %s: %w", doing, err)
}
