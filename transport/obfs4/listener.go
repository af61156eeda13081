package obfs4

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	pt "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/goptlib"
	"gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/lyrebird/transports/base"
	lyre "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/lyrebird/transports/obfs4"

	"github.com/samizdat-project/samizdat/transport"
)

// MaxPendingHandshakes bounds the connections a Listener holds in the server
// handshake (or in obfs4's delayed close after a failed one) at once; beyond
// it new TCP connections are closed at once.
const MaxPendingHandshakes = 4096

// Listener accepts obfs4 connections. Each TCP connection runs the server
// handshake on its own goroutine; only connections that complete it reach
// Accept. A failed handshake (wrong key, garbage, a replay of a recorded
// handshake) is handled as lyrebird does for Tor bridges: the server reads
// and discards for a random, per-server delay (30-90 s) and then closes,
// so a prober sees no answer and no distinctive close timing.
type Listener struct {
	inner   net.Listener
	factory base.ServerFactory
	params  Params

	accepted chan net.Conn
	done     chan struct{}
	wg       sync.WaitGroup // handshake goroutines and the accept loop

	mu      sync.Mutex            // guards pending and closed
	pending map[net.Conn]struct{} // TCP conns still in the handshake
	closed  bool
}

var _ transport.Listener = (*Listener)(nil)

// Listen listens on TCP address addr and serves obfs4 with state st.
func Listen(addr string, st *ServerState) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("obfs4: listening: %w", err)
	}
	l, err := NewListener(ln, st)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return l, nil
}

// NewListener serves obfs4 with state st on connections from inner, which
// the Listener owns from now on (Close closes it).
func NewListener(inner net.Listener, st *ServerState) (*Listener, error) {
	f, err := newServerFactory(st)
	if err != nil {
		return nil, err
	}
	l := &Listener{
		inner:    inner,
		factory:  f,
		params:   st.Params(),
		accepted: make(chan net.Conn),
		done:     make(chan struct{}),
		pending:  make(map[net.Conn]struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// newServerFactory builds lyrebird's server factory from st. lyrebird always
// writes obfs4_state.json and a bridge-line file into its state directory,
// so it gets a private temporary directory (0700) that is removed at once;
// the caller's persisted ServerState stays the only copy.
func newServerFactory(st *ServerState) (base.ServerFactory, error) {
	dir, err := os.MkdirTemp("", "samizdat-obfs4-")
	if err != nil {
		return nil, fmt.Errorf("obfs4: preparing server: %w", err)
	}
	defer os.RemoveAll(dir)
	args := pt.Args{}
	for k, v := range st.PTOptions() {
		args.Add(k, v)
	}
	f, err := (&lyre.Transport{}).ServerFactory(dir, &args)
	if err != nil {
		return nil, fmt.Errorf("obfs4: preparing server: lyrebird rejected the state")
	}
	return f, nil
}

// Params returns the parameters clients need (no secret).
func (l *Listener) Params() Params { return l.params }

// Spec returns the client spec for this listener reached at addr (the
// public host:port, which behind NAT differs from Addr).
func (l *Listener) Spec(addr string) transport.Spec { return l.params.Spec(addr) }

// Addr returns the TCP address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Accept returns the next connection that completed the obfs4 handshake.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("obfs4: accept: %w", net.ErrClosed)
	}
}

// Close stops accepting, closes the TCP listener and every connection still
// in the handshake, and waits for their goroutines. Connections already
// returned by Accept stay open. Close is idempotent.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	for c := range l.pending {
		c.Close()
	}
	l.mu.Unlock()
	err := l.inner.Close()
	l.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("obfs4: closing listener: %w", err)
	}
	return nil
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// The listener is closed or broken: stop; Accept reports
			// net.ErrClosed once Close runs.
			return
		}
		if !l.track(raw) {
			raw.Close()
			continue
		}
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

// track registers raw as pending; false when closed or over the limit.
func (l *Listener) track(raw net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.pending) >= MaxPendingHandshakes {
		return false
	}
	l.pending[raw] = struct{}{}
	return true
}

func (l *Listener) untrack(raw net.Conn) {
	l.mu.Lock()
	delete(l.pending, raw)
	l.mu.Unlock()
}

func (l *Listener) handshake(raw net.Conn) {
	defer l.wg.Done()
	defer l.untrack(raw)
	// WrapConn runs the handshake; on failure it drains and closes raw
	// itself after obfs4's delay (or at once when Close closes raw).
	c, err := l.factory.WrapConn(raw)
	if err != nil {
		return
	}
	select {
	case l.accepted <- newConn(c, raw):
	case <-l.done:
		raw.Close()
	}
}
