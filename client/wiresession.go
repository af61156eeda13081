package client

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"sync"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// FrameHandler sees every frame from the server before it is matched to a
// request, in order, on the session's reader goroutine (it must not block
// long). It returns handled true when it took the frame (a push); a non-nil
// err then ends the session with that error. Frames it does not handle are
// matched to the waiting request of their ID; unhandled frames with request
// ID 0 are dropped.
type FrameHandler func(f wire.Frame) (handled bool, err error)

// SessionConfig says how Handshake opens a Session.
type SessionConfig struct {
	// ServerPublic is the server key pinned by the server link.
	ServerPublic securechan.ServerPublic
	// DeviceKey is the device key the secure channel authenticates.
	DeviceKey ed25519.PrivateKey
	// Padding pads the secure channel's records (none if nil).
	Padding securechan.Padding
	// OnFrame takes pushes; nil handles nothing.
	OnFrame FrameHandler
}

// helloPadding gives the secure channel's first message a random length
// (1,291-2,058 bytes with its length prefix), so that neither its length
// nor its first two bytes are fixed (docs/spec/transports.md, "direct";
// TestAdversaryDirectFirstPacket in transport/direct).
var helloPadding = securechan.RandomPadding(767)

// Session is one secure channel to a server (or a relay) with pipelined
// request/response matching over the wire protocol. Its methods are safe
// for concurrent use.
type Session struct {
	sc      *securechan.Conn
	onFrame FrameHandler

	mu      sync.Mutex // guards the fields below
	nextID  uint32
	waiting map[uint32]chan wire.Message
	err     error // set once the session is dead
	done    chan struct{}
}

// Handshake runs the securechan client handshake over nc within ctx and
// starts the session's reader; the caller says hello next (Session.Hello).
// On failure it closes nc and returns the handshake's error.
func Handshake(ctx context.Context, nc net.Conn, cfg SessionConfig) (*Session, error) {
	sc, err := securechan.Client(ctx, nc, securechan.ClientConfig{ServerPublic: cfg.ServerPublic, DeviceKey: cfg.DeviceKey, Padding: cfg.Padding, HelloPadding: helloPadding})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return NewSession(sc, cfg.OnFrame), nil
}

// NewSession starts a session over an established secure channel; onFrame
// (may be nil) takes pushes.
func NewSession(sc *securechan.Conn, onFrame FrameHandler) *Session {
	s := &Session{sc: sc, onFrame: onFrame, waiting: map[uint32]chan wire.Message{}, done: make(chan struct{})}
	go s.readLoop()
	return s
}

// Hello sends the wire ClientHello for this protocol version and returns
// the server's answer. The caller ends the session when it fails.
func (s *Session) Hello(ctx context.Context) (*wire.ServerHello, error) {
	resp, err := s.Call(ctx, &wire.ClientHello{MinVersion: wire.Version, MaxVersion: wire.Version})
	if err != nil {
		return nil, err
	}
	hello, ok := resp.(*wire.ServerHello)
	if !ok {
		return nil, fmt.Errorf("unexpected answer %v", resp.Type())
	}
	return hello, nil
}

func (s *Session) readLoop() {
	for {
		b, err := s.sc.Recv()
		if err != nil {
			s.End(fmt.Errorf("client: connection lost: %w", err))
			return
		}
		var f wire.Frame
		if h, herr := wire.ParseHeader(b); herr == nil && h.Type == wire.TypeChunk {
			f, err = wire.DecodeShared(b) // the chunk stays in b, released once it is saved
		} else {
			f, err = wire.Decode(b)
			securechan.ReleaseMessage(b) // Decode copied what it kept
		}
		if err != nil {
			s.End(fmt.Errorf("client: server sent an undecodable frame: %w", err))
			return
		}
		if s.onFrame != nil {
			handled, err := s.onFrame(f)
			if err != nil {
				s.End(err)
				return
			}
			if handled {
				continue
			}
		}
		if f.RequestID == 0 {
			continue
		}
		s.mu.Lock()
		ch := s.waiting[f.RequestID]
		delete(s.waiting, f.RequestID)
		s.mu.Unlock()
		if ch != nil {
			ch <- f.Msg
		}
	}
}

// SendFrames sends frames as they are, in one write where it can, for a
// caller that pipelines requests and takes their answers itself through the
// session's FrameHandler. The request ids are the caller's; keep them apart
// from Call's (which count up from 1).
func (s *Session) SendFrames(frames []wire.Frame) error {
	msgs := make([][]byte, len(frames))
	for i, f := range frames {
		b, err := wire.Encode(f)
		if err != nil {
			return err
		}
		msgs[i] = b
	}
	if err := s.sc.SendBatch(msgs); err != nil {
		s.End(fmt.Errorf("client: connection lost: %w", err))
		return s.Err()
	}
	return nil
}

// Call sends a request and waits for its answer. A wire.Error answer is
// returned as the error (a *wire.Error); an answer of the wrong type is an
// error too.
func (s *Session) Call(ctx context.Context, req wire.Message) (wire.Message, error) {
	wait, err := s.startCall(req)
	if err != nil {
		return nil, err
	}
	return wait(ctx)
}

// End closes the session with err as the reason; the first reason wins.
func (s *Session) End(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		close(s.done)
		s.sc.Close()
	}
	s.mu.Unlock()
}

// Err returns why the session ended, or nil while it works.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.done }

// Alive reports whether the session still works.
func (s *Session) Alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}
