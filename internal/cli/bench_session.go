package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// benchDevice is one device of its own fresh account: the load generator
// makes one per sender and per recipient.
type benchDevice struct {
	account ed25519.PrivateKey
	device  ed25519.PrivateKey
	id      wire.DeviceID
}

func newBenchDevice() benchDevice {
	_, acct, _ := ed25519.GenerateKey(rand.Reader)
	_, dev, _ := ed25519.GenerateKey(rand.Reader)
	var pub wire.DeviceKey
	copy(pub[:], dev.Public().(ed25519.PublicKey))
	return benchDevice{account: acct, device: dev, id: sha256.Sum256(pub[:])}
}

// register is the RegisterDevice request of d.
func (d benchDevice) register() *wire.RegisterDevice {
	var acct wire.AccountKey
	var dev wire.DeviceKey
	copy(acct[:], d.account.Public().(ed25519.PublicKey))
	copy(dev[:], d.device.Public().(ed25519.PublicKey))
	return &wire.RegisterDevice{AccountKey: acct, DeviceCert: client.SignDevice(d.account, dev)}
}

// benchSession is one secure channel to the server with pipelined
// request/response matching, like the client library's session but with no
// client state: the load generator speaks the wire protocol directly.
type benchSession struct {
	sc        *securechan.Conn
	onDeliver func(*wire.Deliver)

	writeMu sync.Mutex // serializes frames on sc

	mu      sync.Mutex // guards the fields below
	nextID  uint32
	waiting map[uint32]chan wire.Message
	err     error
	done    chan struct{}
}

// benchDial connects d to the server of link, runs the handshake and the
// hello; onDeliver (may be nil) gets the Deliver pushes in order.
func benchDial(ctx context.Context, link client.ServerLink, d benchDevice, onDeliver func(*wire.Deliver)) (*benchSession, error) {
	if len(link.Addrs) == 0 {
		return nil, errors.New("the server link has no address")
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var dialer net.Dialer
	nc, err := dialer.DialContext(dctx, "tcp", link.Addrs[0])
	if err != nil {
		return nil, err
	}
	sc, err := securechan.Client(dctx, nc, securechan.ClientConfig{ServerPublic: link.Key, DeviceKey: d.device, Padding: securechan.PadToMultiple(256)})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("secure channel: %w", err)
	}
	s := &benchSession{sc: sc, onDeliver: onDeliver, waiting: map[uint32]chan wire.Message{}, done: make(chan struct{})}
	go s.readLoop()
	if _, err := s.call(dctx, &wire.ClientHello{MinVersion: wire.Version, MaxVersion: wire.Version}); err != nil {
		s.close(err)
		return nil, fmt.Errorf("hello: %w", err)
	}
	return s, nil
}

// benchDialRegistered dials and registers d.
func benchDialRegistered(ctx context.Context, link client.ServerLink, d benchDevice, onDeliver func(*wire.Deliver)) (*benchSession, error) {
	s, err := benchDial(ctx, link, d, onDeliver)
	if err != nil {
		return nil, err
	}
	if _, err := s.call(ctx, d.register()); err != nil {
		s.close(err)
		return nil, fmt.Errorf("registering: %w", err)
	}
	return s, nil
}

func (s *benchSession) readLoop() {
	for {
		b, err := s.sc.Recv()
		if err != nil {
			s.close(fmt.Errorf("connection lost: %w", err))
			return
		}
		f, err := wire.Decode(b)
		if err != nil {
			s.close(fmt.Errorf("undecodable frame from the server: %w", err))
			return
		}
		if d, ok := f.Msg.(*wire.Deliver); ok {
			if s.onDeliver != nil {
				s.onDeliver(d)
			}
			continue
		}
		if f.RequestID == 0 {
			s.close(fmt.Errorf("server closed the session: %v", f.Msg))
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

// call sends req and waits for its answer; a wire.Error answer is returned
// as the error.
func (s *benchSession) call(ctx context.Context, req wire.Message) (wire.Message, error) {
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
		s.close(fmt.Errorf("connection lost: %w", err))
		return nil, s.deadErr()
	}
	select {
	case m := <-ch:
		if e, ok := m.(*wire.Error); ok {
			return nil, e
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

func (s *benchSession) deadErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *benchSession) close(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		close(s.done)
		s.sc.Close()
	}
	s.mu.Unlock()
}

func (s *benchSession) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// wireErrorCode returns the protocol error code of err, or 0 when err is
// not an Error answer (a lost connection, a timeout).
func wireErrorCode(err error) (wire.ErrorCode, uint32) {
	var e *wire.Error
	if errors.As(err, &e) {
		return e.Code, e.RetryAfter
	}
	return 0, 0
}

// retryable reports whether the protocol says to retry an error answer
// unchanged (docs/spec/wire.md §4).
func retryable(code wire.ErrorCode) bool {
	return code == wire.CodeRateLimited || code == wire.CodeInternal || code == wire.CodeUnavailable
}
