// Package memnet is the censorship lab's in-memory network (in the spirit of
// tailscale's natlab): hosts with IP addresses listen and dial like
// net.Listen and net.Dial, and every connection's bytes pass through a
// censor.Engine, one "packet" per Write call, so first-packet rules see the
// first client write. Conns implement net.Conn fully (deadlines, Close,
// CloseWrite) and report resets as ECONNRESET and refused dials as
// ECONNREFUSED, so code under test sees what it would see on a real network.
//
// What it does not model: bandwidth and buffering limits (writes never
// block), packet loss other than the engine's, and TCP retransmission.
package memnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/samizdat-project/samizdat/censor"
)

// Network is a set of hosts joined through one censor engine.
type Network struct {
	engine *censor.Engine // nil: no censorship
	clock  censor.Clock

	mu        sync.Mutex // guards hosts and listeners
	hosts     map[netip.Addr]*Host
	listeners map[netip.AddrPort]*Listener
}

// New returns an empty network whose flows pass through e (nil: none).
func New(e *censor.Engine) *Network {
	n := &Network{engine: e, clock: censor.RealClock{},
		hosts: make(map[netip.Addr]*Host), listeners: make(map[netip.AddrPort]*Listener)}
	if e != nil {
		n.clock = e.Clock()
	}
	return n
}

// Host returns the host with address a, creating it.
func (n *Network) Host(a netip.Addr) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	h, ok := n.hosts[a]
	if !ok {
		h = &Host{net: n, addr: a, nextPort: 40000}
		n.hosts[a] = h
	}
	return h
}

// Host is one machine on the network.
type Host struct {
	net  *Network
	addr netip.Addr

	mu       sync.Mutex // guards nextPort
	nextPort uint16
}

// Addr is the host's address.
func (h *Host) Addr() netip.Addr { return h.addr }

func opErr(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: addr, Err: err}
}

// Listen listens on address ("host:port" or ":port"; the host part, if any,
// must be this host's address). Only "tcp" networks are supported.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("memnet: listen %s: unsupported network", network)
	}
	_, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("memnet: listen %q: %w", address, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("memnet: listen %q: bad port", address)
	}
	if port == 0 {
		port = uint64(h.ephemeral())
	}
	ap := netip.AddrPortFrom(h.addr, uint16(port))
	l := &Listener{net: h.net, addr: ap, backlog: make(chan *Conn, 1024), done: make(chan struct{})}
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	if _, busy := h.net.listeners[ap]; busy {
		return nil, opErr("listen", net.TCPAddrFromAddrPort(ap), syscall.EADDRINUSE)
	}
	h.net.listeners[ap] = l
	return l, nil
}

func (h *Host) ephemeral() uint16 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextPort++
	if h.nextPort < 40000 {
		h.nextPort = 40000
	}
	return h.nextPort
}

// Dial connects to address ("ip:port").
func (h *Host) Dial(network, address string) (net.Conn, error) {
	return h.DialContext(context.Background(), network, address)
}

// DialContext connects to address. A dial the censor drops (a black-holed
// SYN) blocks until ctx ends, or 30 s if ctx has no deadline, and then fails
// with a timeout; a dial it resets, or to a port nobody listens on, fails
// with ECONNREFUSED.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("memnet: dial %s: unsupported network", network)
	}
	dst, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, fmt.Errorf("memnet: dial %q: %w", address, err)
	}
	raddr := net.TCPAddrFromAddrPort(dst)
	if err := ctx.Err(); err != nil {
		return nil, opErr("dial", raddr, err)
	}
	src := netip.AddrPortFrom(h.addr, h.ephemeral())
	var flow *censor.Flow
	if e := h.net.engine; e != nil {
		f, d := e.Open(censor.FlowKey{Client: src, Server: dst})
		switch d.Verdict {
		case censor.Drop:
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
			}
			<-ctx.Done()
			return nil, opErr("dial", raddr, timeoutError{ctx.Err()})
		case censor.Reset:
			return nil, opErr("dial", raddr, syscall.ECONNREFUSED)
		}
		flow = f
	}
	h.net.mu.Lock()
	l := h.net.listeners[dst]
	h.net.mu.Unlock()
	if l == nil {
		return nil, opErr("dial", raddr, syscall.ECONNREFUSED)
	}
	client, server := newPair(h.net.clock, flow, src, dst)
	select {
	case l.backlog <- server:
		return client, nil
	case <-l.done:
		return nil, opErr("dial", raddr, syscall.ECONNREFUSED)
	case <-ctx.Done():
		return nil, opErr("dial", raddr, ctx.Err())
	}
}

// Listener accepts connections on one address.
type Listener struct {
	net     *Network
	addr    netip.AddrPort
	backlog chan *Conn
	once    sync.Once
	done    chan struct{}
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.backlog:
		return c, nil
	case <-l.done:
		return nil, opErr("accept", l.Addr(), net.ErrClosed)
	}
}

// Close stops the listener; it is idempotent.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.net.mu.Lock()
		delete(l.net.listeners, l.addr)
		l.net.mu.Unlock()
	})
	return nil
}

// Addr is the listening address, a *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// timeoutError is a net.Error with Timeout() true that matches
// os.ErrDeadlineExceeded.
type timeoutError struct{ cause error }

func (e timeoutError) Error() string {
	if e.cause != nil {
		return "i/o timeout: " + e.cause.Error()
	}
	return "i/o timeout"
}
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded
}

var _ net.Error = timeoutError{}
