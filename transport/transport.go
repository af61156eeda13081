// Package transport owns the small interfaces every samizdat transport
// implements, and Spec, the serializable description of one transport
// endpoint (name, address, parameters) that links and signed endpoint books
// carry.
//
// A transport has one job: make bytes cross a hostile network. It carries
// opaque bytes only; the secure channel runs inside it unchanged. Each
// transport lives in its own package under transport/ (direct, tlsws, obfs4,
// pt), exposes constructors that return a Dialer and a Listener, and passes the
// conformance suite in transport/transporttest. There is deliberately no global
// registry: whoever wires transports together (reach, relay, the CLI) switches
// on Spec.Name and calls the package's constructor.
//
// Transports never import mls, wire, server, client or censor (a root test
// enforces it).
package transport

import (
	"context"
	"net"
)

// Dialer opens client connections to one endpoint.
//
// Contract:
//   - Dial returns only once the transport's own handshake is done: the
//     returned conn carries the caller's bytes and nothing else.
//   - Dial honours ctx: cancellation or its deadline aborts a dial in progress
//     and Dial returns an error wrapping ctx.Err(). Once Dial has returned, ctx
//     no longer affects the conn.
//   - Dial is safe for concurrent use.
type Dialer interface {
	Dial(ctx context.Context) (net.Conn, error)
}

// Listener accepts server connections of one transport.
//
// Contract:
//   - Accept returns only connections that completed the transport's
//     handshake (and, where the transport has one, its authentication). A peer
//     that fails, sends garbage or stalls never makes Accept return an error
//     and never stops the listener; the transport handles it (drops it or hands
//     it to the cover site) on its own goroutine.
//   - Close stops the listener: a blocked Accept and every later Accept
//     return an error wrapping net.ErrClosed. Close does not close
//     connections already returned by Accept. Close is idempotent.
//   - Addr is the network address clients reach (for TCP-based transports a
//     *net.TCPAddr); it stays valid after Close.
//   - Accept is safe for concurrent use.
type Listener interface {
	Accept() (net.Conn, error)
	Close() error
	Addr() net.Addr
}

// Connections returned by Dial and Accept follow net.Conn's contract; the
// conformance suite checks these points in particular:
//   - Read and Write may be called concurrently with each other; bytes arrive
//     in order and unchanged, whatever the write sizes.
//   - After the peer's Close and once all its bytes are read, Read returns
//     io.EOF.
//   - Close unblocks a blocked Read or Write, which then return an error; Read
//     and Write after Close return an error (net.ErrClosed where possible).
//   - SetDeadline, SetReadDeadline and SetWriteDeadline are honoured: an
//     operation blocked past the deadline returns an error e for which
//     errors.Is(e, os.ErrDeadlineExceeded) and e is a net.Error with
//     Timeout() true; a deadline in the past unblocks a blocked operation at
//     once. After a read timeout, extending the deadline lets Read go on with
//     no byte lost. A write that times out part-way may leave the conn
//     unusable (framed transports cannot resume half a frame); callers treat
//     a write timeout as fatal.
//   - Conns that can half-close implement CloseWrite() error; after it the
//     peer reads io.EOF and can still send.

// DialerFunc adapts a function to the Dialer interface.
type DialerFunc func(ctx context.Context) (net.Conn, error)

// Dial calls f(ctx).
func (f DialerFunc) Dial(ctx context.Context) (net.Conn, error) { return f(ctx) }
