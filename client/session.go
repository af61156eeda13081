package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync"
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

// session is one secure channel to the server with request/response
// matching. Pushes go to onDeliver, in order, from the reader goroutine.
type session struct {
	sc        *securechan.Conn
	onDeliver func(*wire.Deliver)
	hello     *wire.ServerHello

	writeMu sync.Mutex // serializes frames on sc

	mu      sync.Mutex // guards the fields below
	nextID  uint32
	waiting map[uint32]chan wire.Message
	err     error // set once the session is dead
	done    chan struct{}
}

// dialSession dials the first address that answers, runs the securechan
// handshake pinned to the link's key and the wire hello.
func dialSession(ctx context.Context, dial Dialer, link ServerLink, device ed25519.PrivateKey, onDeliver func(*wire.Deliver)) (*session, error) {
	var lastErr error = ErrOffline
	for _, addr := range link.Addrs {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		nc, err := dial(dctx, addr)
		if err != nil {
			cancel()
			lastErr = fmt.Errorf("client: connecting to %s: %w", addr, err)
			continue
		}
		sc, err := securechan.Client(dctx, nc, securechan.ClientConfig{ServerPublic: link.Key, DeviceKey: device, Padding: securechan.PadToMultiple(256)})
		cancel()
		if err != nil {
			nc.Close()
			lastErr = fmt.Errorf("client: secure channel to %s (is the server link current?): %w", addr, err)
			continue
		}
		s := &session{sc: sc, onDeliver: onDeliver, waiting: map[uint32]chan wire.Message{}, done: make(chan struct{})}
		go s.readLoop()
		resp, err := s.call(ctx, &wire.ClientHello{MinVersion: wire.Version, MaxVersion: wire.Version})
		if err != nil {
			s.close(err)
			return nil, fmt.Errorf("client: hello: %w", err)
		}
		hello, ok := resp.(*wire.ServerHello)
		if !ok {
			s.close(errors.New("unexpected answer"))
			return nil, fmt.Errorf("client: hello: unexpected answer %v", resp.Type())
		}
		s.hello = hello
		return s, nil
	}
	return nil, lastErr
}

func (s *session) readLoop() {
	for {
		b, err := s.sc.Recv()
		if err != nil {
			s.close(fmt.Errorf("client: connection lost: %w", err))
			return
		}
		f, err := wire.Decode(b)
		if err != nil {
			s.close(fmt.Errorf("client: server sent an undecodable frame: %w", err))
			return
		}
		if d, ok := f.Msg.(*wire.Deliver); ok {
			s.onDeliver(d)
			continue
		}
		if f.RequestID == 0 {
			if e, ok := f.Msg.(*wire.Error); ok {
				s.close(fmt.Errorf("client: server closed the connection: %s", e.Code.Text()))
			} else {
				s.close(errors.New("client: server sent an unexpected push"))
			}
			return
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

// call sends a request and waits for its answer. A wire.Error answer is
// returned as the error (a *wire.Error).
func (s *session) call(ctx context.Context, req wire.Message) (wire.Message, error) {
	ch := make(chan wire.Message, 1)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	s.nextID++
	if s.nextID == 0 {
		s.nextID = 1
	}
	id := s.nextID
	s.waiting[id] = ch
	s.mu.Unlock()
	b, err := wire.Encode(wire.Frame{RequestID: id, Msg: req})
	if err != nil {
		return nil, err
	}
	s.writeMu.Lock()
	err = s.sc.Send(b)
	s.writeMu.Unlock()
	if err != nil {
		s.close(fmt.Errorf("client: connection lost: %w", err))
		return nil, s.deadErr()
	}
	select {
	case m := <-ch:
		if e, ok := m.(*wire.Error); ok {
			return nil, e
		}
		if want := wire.ResponseType(req.Type()); m.Type() != want {
			return nil, fmt.Errorf("client: server answered %v with %v", req.Type(), m.Type())
		}
		return m, nil
	case <-s.done:
		return nil, s.deadErr()
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.waiting, id)
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (s *session) deadErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) close(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		close(s.done)
		s.sc.Close()
	}
	s.mu.Unlock()
}

// alive reports whether the session still works.
func (s *session) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

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
	var e *wire.Error
	if errors.As(err, &e) {
		return fmt.Errorf("client: %s: %s %s", doing, e.Code.Text(), e.Code.Action())
	}
	return fmt.Errorf("client: %s: %w", doing, err)
}
