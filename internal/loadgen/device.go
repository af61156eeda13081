package loadgen

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Device is one device of its own fresh account: the load generator
// makes one per sender and per recipient.
type Device struct {
	account ed25519.PrivateKey
	device  ed25519.PrivateKey
	id      wire.DeviceID
}

// NewDevice makes a device of a fresh account.
func NewDevice() Device {
	_, acct, _ := ed25519.GenerateKey(rand.Reader)
	_, dev, _ := ed25519.GenerateKey(rand.Reader)
	var pub wire.DeviceKey
	copy(pub[:], dev.Public().(ed25519.PublicKey))
	return Device{account: acct, device: dev, id: sha256.Sum256(pub[:])}
}

// ID is the device's id (what Sends name as a recipient).
func (d Device) ID() wire.DeviceID { return d.id }

// register is the RegisterDevice request of d.
func (d Device) register() *wire.RegisterDevice {
	var acct wire.AccountKey
	var dev wire.DeviceKey
	copy(acct[:], d.account.Public().(ed25519.PublicKey))
	copy(dev[:], d.device.Public().(ed25519.PublicKey))
	return &wire.RegisterDevice{AccountKey: acct, DeviceCert: client.SignDevice(d.account, dev)}
}

// pipelinedIDs marks the request ids of pipelined Sends (the top bit), so
// that their answers go to onAnswer and never meet the ids of Call.
const pipelinedIDs = 1 << 31

// dial connects d to the server of link, runs the handshake and
// the hello; onDeliver (may be nil) gets the Deliver pushes in order, and
// onAnswer (may be nil) the answers to requests whose id has the
// pipelinedIDs bit, in order. The load generator speaks the wire protocol
// directly, with no client state.
func dial(ctx context.Context, link client.ServerLink, d Device, onDeliver func(*wire.Deliver), onAnswer func(wire.Frame)) (*client.Session, error) {
	if len(link.Addrs) == 0 {
		return nil, errors.New("loadgen: the server link has no address")
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// The first address that answers, as clients do: a link of several
	// server nodes names them in order of preference.
	var dialer net.Dialer
	var nc net.Conn
	var err error
	for _, a := range link.Addrs {
		if nc, err = dialer.DialContext(dctx, "tcp", a); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	onFrame := func(f wire.Frame) (bool, error) {
		if d, ok := f.Msg.(*wire.Deliver); ok {
			if onDeliver != nil {
				onDeliver(d)
			}
			return true, nil
		}
		if f.RequestID == 0 {
			return true, fmt.Errorf("server closed the session: %v", f.Msg)
		}
		if onAnswer != nil && f.RequestID&pipelinedIDs != 0 {
			onAnswer(f)
			return true, nil
		}
		return false, nil
	}
	s, err := client.Handshake(dctx, nc, client.SessionConfig{ServerPublic: link.Key, DeviceKey: d.device, Padding: securechan.PadToMultiple(256), OnFrame: onFrame})
	if err != nil {
		return nil, fmt.Errorf("secure channel: %w", err)
	}
	if _, err := s.Hello(dctx); err != nil {
		s.End(err)
		return nil, fmt.Errorf("hello: %w", err)
	}
	return s, nil
}

// dialRegistered dials and registers d with both hooks of dial.
func dialRegistered(ctx context.Context, link client.ServerLink, d Device, onDeliver func(*wire.Deliver), onAnswer func(wire.Frame)) (*client.Session, error) {
	s, err := dial(ctx, link, d, onDeliver, onAnswer)
	if err != nil {
		return nil, err
	}
	if _, err := s.Call(ctx, d.register()); err != nil {
		s.End(err)
		return nil, fmt.Errorf("registering: %w", err)
	}
	return s, nil
}

// errorCode returns the protocol error code of err, or 0 when err is
// not an Error answer (a lost connection, a timeout).
func errorCode(err error) (wire.ErrorCode, uint32) {
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

// StartCPUProfile writes a CPU profile of this process to path until stop
// is called; an empty path profiles nothing.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// DialNewDevice connects a device of a fresh account to the server of
// link and registers it: a session for tests that speak the wire protocol
// directly (e2e's crash test of chunks).
func DialNewDevice(ctx context.Context, link client.ServerLink) (*client.Session, error) {
	return dialRegistered(ctx, link, NewDevice(), nil, nil)
}
