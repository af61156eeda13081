// Package direct owns the plain-TCP transport: no camouflage at all, for
// uncensored networks, for tests and as the inner leg between a relay and the
// server. Its spec is "direct://host:port" with no parameters.
//
// A censor sees a TCP connection whose first bytes are the secure channel's
// handshake, which is indistinguishable from random. That meets none of the
// 2023 fully-encrypted-traffic exemption rules; see docs/spec/transports.md.
// So that the first packet has no fixed length, a dialed Conn sends its
// first write as two TCP segments, cut at a random point
// (docs/spec/transports.md, "direct").
package direct

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

// Name is the transport name in a Spec.
const Name = "direct"

// Dialer dials one TCP address.
type Dialer struct {
	addr string
	nd   net.Dialer

	// DialContext, when set, opens the TCP connection instead of a
	// net.Dialer (e.g. reach.ProxyFromURL's, to go out through the user's
	// proxy). Set it before the first Dial.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ transport.Dialer = (*Dialer)(nil)

// NewDialer returns a Dialer for addr (host:port).
func NewDialer(addr string) *Dialer {
	return &Dialer{addr: addr, nd: net.Dialer{KeepAlive: 30 * time.Second}}
}

// DialerFromSpec builds a Dialer from a "direct" Spec.
func DialerFromSpec(s transport.Spec) (*Dialer, error) {
	if err := s.Check(Name); err != nil {
		return nil, err
	}
	return NewDialer(s.Addr), nil
}

// Spec returns the Spec that reaches addr.
func Spec(addr string) transport.Spec { return transport.Spec{Name: Name, Addr: addr} }

// Dial opens a TCP connection. The conn is a *Conn (first write cut in
// two) when the dial gave a *net.TCPConn, so it can half-close (CloseWrite).
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	dial := d.nd.DialContext
	if d.DialContext != nil {
		dial = d.DialContext
	}
	c, err := dial(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("direct: dialing: %w", err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return newConn(tc), nil
	}
	return c, nil
}

// Listener accepts TCP connections.
type Listener struct {
	ln *net.TCPListener
}

var _ transport.Listener = (*Listener)(nil)

// Listen listens on addr (host:port; port 0 picks one).
func Listen(addr string) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("direct: listening: %w", err)
	}
	return &Listener{ln: ln.(*net.TCPListener)}, nil
}

// Accept returns the next connection. Transient accept failures (such as
// running out of file descriptors) are retried with a growing pause, as
// net/http does, so only Close ends the loop; its error wraps net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.ln.Accept()
		if err == nil {
			return c, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, fmt.Errorf("direct: accepting: %w", err)
		}
		pause = min(max(2*pause, 5*time.Millisecond), time.Second)
		time.Sleep(pause)
	}
}

// Close stops the listener; a blocked Accept returns net.ErrClosed.
func (l *Listener) Close() error {
	if err := l.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("direct: closing: %w", err)
	}
	return nil
}

// Addr returns the listening address, a *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }
