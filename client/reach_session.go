package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/transport"
)

// defaultPingInterval: a path that carries nothing for this long gets a
// Ping, so that a dead idle path is found (budget.go finds one with an
// answer due).
const defaultPingInterval = 15 * time.Second

// Handshake timeouts: raceHandshakeTimeout bounds the secure channel and
// the wire hello of one attempt in the race (other paths race it, so one
// that has not answered by then is not worth waiting for);
// handshakeTimeout is for a path handed over without a handshake.
const (
	raceHandshakeTimeout = 5 * time.Second
	handshakeTimeout     = 10 * time.Second
)

// errPathClosed ends the session of a path that was closed (it lost the
// race, or the keeper is done with it).
var errPathClosed = errors.New("client: path closed")

// sessionConn is what a path's Dial returns in the race: the connection
// with a secure channel to our server and the wire hello done over it.
// The keeper's Session takes the session over (sessionOf); closing the
// conn ends the session.
type sessionConn struct {
	*activityConn // under the secure channel
	s             *session
}

func (sc *sessionConn) Close() error {
	sc.s.close(errPathClosed)
	return sc.activityConn.Close()
}

// handshaking wraps a dialer factory so that a path's Dial includes the
// secure channel pinned to the link's key and the wire hello: the racer's
// winner is then the first path with an authenticated session with our
// server, not the first whose TCP connects (a censor that completes the TCP
// handshake and drops the data, a dead relay behind a live port). A path
// whose handshake fails (not our server, no answer within
// raceHandshakeTimeout) fails its attempt, wrapping reach.ErrPathRejected,
// and the racer backs it off; one that lost the race (ctx cancelled) is
// closed and not blamed.
func (c *Client) handshaking(f reach.DialerFactory) reach.DialerFactory {
	return func(cand reach.Candidate) (transport.Dialer, error) {
		d, err := f(cand)
		if err != nil {
			return nil, err
		}
		return transport.DialerFunc(func(ctx context.Context) (net.Conn, error) {
			nc, err := d.Dial(ctx)
			if err != nil {
				c.noteConnect(&UnreachableError{Addr: cand.String(), Err: err}) // errclass.go
				return nil, err
			}
			s, ac, err := c.handshakeOver(ctx, nc, raceHandshakeTimeout)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				c.noteConnect(handshakeError(cand.String(), err)) // errclass.go
				return nil, fmt.Errorf("%w: %w", reach.ErrPathRejected, err)
			}
			return &sessionConn{activityConn: ac, s: s}, nil
		}), nil
	}
}

// sessionOf returns the session the race set up over conn, or, for a
// conn that comes without one, runs the handshake now.
func (c *Client) sessionOf(ctx context.Context, conn net.Conn) (*session, *activityConn, error) {
	if sc, ok := conn.(*sessionConn); ok {
		return sc.s, sc.activityConn, nil
	}
	s, ac, err := c.handshakeOver(ctx, conn, handshakeTimeout)
	if err != nil {
		// Not our server, or not a working path: back it off.
		return nil, nil, fmt.Errorf("%w: %w", reach.ErrPathRejected, err)
	}
	return s, ac, nil
}

// handshakeOver runs the secure channel and the wire hello over conn,
// within timeout, counting its bytes from the start (activityConn).
func (c *Client) handshakeOver(ctx context.Context, conn net.Conn, timeout time.Duration) (*session, *activityConn, error) {
	ac := &activityConn{Conn: conn}
	ac.touch()
	dev := c.keys.device()
	defer clear(dev)
	start := time.Now()
	s, err := handshakeSession(ctx, ac, timeout, c.keys.Server, dev, &c.inbox)
	ac.handshake = time.Since(start)
	return s, ac, err
}

func secureClient(ctx context.Context, nc net.Conn, link ServerLink, device ed25519.PrivateKey) (*securechan.Conn, error) {
	return securechan.Client(ctx, nc, securechan.ClientConfig{ServerPublic: link.Key, DeviceKey: device, Padding: securechan.PadToMultiple(256), HelloPadding: helloPadding})
}

// activityConn counts the bytes a connection carried and remembers when
// they last moved: what liveness and byte budgets are judged on
// (budget.go).
type activityConn struct {
	net.Conn
	handshake time.Duration // how long the secure channel and hello took
	last      atomic.Int64  // UnixNano of the last Read that returned bytes
	lastWrite atomic.Int64  // UnixNano of the last Write that returned
	rx, tx    atomic.Int64  // bytes read and written
	txAtRead  atomic.Int64  // tx when bytes last arrived
	lg        lingerState   // budget.go
}

func (a *activityConn) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activityConn) Read(b []byte) (int, error) {
	n, err := a.Conn.Read(b)
	if n > 0 {
		a.rx.Add(int64(n))
		a.txAtRead.Store(a.tx.Load())
		a.touch()
	}
	return n, err
}

func (a *activityConn) Write(b []byte) (int, error) {
	n, err := a.Conn.Write(b)
	a.tx.Add(int64(n))
	a.lastWrite.Store(time.Now().UnixNano())
	return n, err
}

func (a *activityConn) lastRead() time.Time { return time.Unix(0, a.last.Load()) }

// pending returns how many requests wait for an answer.
func (s *session) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}
