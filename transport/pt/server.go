package pt

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

// ServerConfig says how to run a PT binary in server mode.
type ServerConfig struct {
	Config
	// Method is the transport to serve, e.g. "obfs4".
	Method string
	// BindAddr is where the PT listens for clients (TOR_PT_SERVER_BINDADDR):
	// an IP literal and a port; port 0 lets the PT choose.
	BindAddr string
	// Options are the method's server options
	// (TOR_PT_SERVER_TRANSPORT_OPTIONS); for obfs4, transport/obfs4's
	// ServerState.PTOptions gives node-id, private-key, drbg-seed and
	// iat-mode, so the PT serves the same bridge line as the in-process
	// obfs4 transport. Empty means the PT uses (or creates) the state in
	// StateDir.
	Options map[string]string
}

// Listener is a PT binary running in server mode. The PT accepts clients on
// its bind address, runs its transport's handshake, and connects each
// client that completed it to a loopback port of ours: the Extended ORPort
// (TOR_PT_EXTENDED_SERVER_PORT), where the PT proves it holds our secret
// cookie and tells us the client's address. Accept returns those conns,
// with the client's address as RemoteAddr.
type Listener struct {
	proc      *process
	orLn      net.Listener // our loopback Extended ORPort
	cookie    []byte       // Extended ORPort auth cookie
	cookieDir string
	addr      *net.TCPAddr // where the PT listens
	method    string
	args      map[string]string // SMETHOD ARGS: the client parameters

	accepted chan net.Conn
	done     chan struct{}
	wg       sync.WaitGroup // the accept loop and per-conn handshakes

	mu      sync.Mutex // guards closed and pending
	closed  bool
	pending map[net.Conn]struct{} // conns in the Extended ORPort handshake
}

// extORTimeout bounds the PT's Extended ORPort handshake on loopback.
const extORTimeout = 10 * time.Second

var _ transport.Listener = (*Listener)(nil)

// Listen starts the PT server (pt-spec §3.2.3) and waits for its SMETHOD
// line. ctx bounds only the start.
func Listen(ctx context.Context, cfg ServerConfig) (*Listener, error) {
	if !validMethodName(cfg.Method) {
		return nil, fmt.Errorf("pt: listening: bad method name %q", cfg.Method)
	}
	if _, err := net.ResolveTCPAddr("tcp", cfg.BindAddr); err != nil {
		return nil, fmt.Errorf("pt: listening: bind address: %w", err)
	}
	orLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pt: listening on the loopback ORPort: %w", err)
	}
	cookie, cookiePath, cookieDir, err := writeCookieFile()
	if err != nil {
		orLn.Close()
		return nil, fmt.Errorf("pt: listening: Extended ORPort cookie: %w", err)
	}
	env := []string{
		"TOR_PT_SERVER_TRANSPORTS=" + cfg.Method,
		"TOR_PT_SERVER_BINDADDR=" + cfg.Method + "-" + cfg.BindAddr,
		"TOR_PT_EXTENDED_SERVER_PORT=" + orLn.Addr().String(),
		"TOR_PT_AUTH_COOKIE_FILE=" + cookiePath,
	}
	if len(cfg.Options) > 0 {
		env = append(env, "TOR_PT_SERVER_TRANSPORT_OPTIONS="+encodeServerOptions(cfg.Method, cfg.Options))
	}
	proc, lines, err := start(ctx, cfg.Config, env, "SMETHOD")
	if err != nil {
		orLn.Close()
		os.RemoveAll(cookieDir)
		return nil, err
	}
	l := &Listener{
		proc: proc, orLn: orLn, cookie: cookie, cookieDir: cookieDir, method: cfg.Method,
		accepted: make(chan net.Conn), done: make(chan struct{}), pending: map[net.Conn]struct{}{},
	}
	for _, m := range lines {
		if m.name != cfg.Method {
			continue
		}
		if m.errText != "" {
			l.closeAll()
			return nil, fmt.Errorf("pt: listening: %s refused %q: %s", cfg.Path, cfg.Method, m.errText)
		}
		a, err := net.ResolveTCPAddr("tcp", m.addr)
		if err != nil {
			l.closeAll()
			return nil, fmt.Errorf("pt: listening: SMETHOD address %q: %w", m.addr, err)
		}
		l.addr, l.args = a, m.args
	}
	if l.addr == nil {
		l.closeAll()
		return nil, fmt.Errorf("pt: listening: %s gave no SMETHOD for %q", cfg.Path, cfg.Method)
	}
	// A child that dies takes the listener with it, so Accept cannot block
	// forever on a port nobody will connect to.
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.orLn.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.pending[c] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go l.handshake(c)
	}
}

// handshake runs the Extended ORPort handshake with the PT; a peer that
// fails it (not our PT: it lacks the cookie) is dropped.
func (l *Listener) handshake(c net.Conn) {
	defer l.wg.Done()
	c.SetDeadline(time.Now().Add(extORTimeout))
	userAddr, err := extORServerHandshake(c, l.cookie)
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
	if err != nil {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	oc := &orConn{Conn: c, remote: clientAddr(userAddr)}
	select {
	case l.accepted <- oc:
	case <-l.done:
		c.Close()
	}
}

// Addr is where the PT listens for clients.
func (l *Listener) Addr() net.Addr { return l.addr }

// Params returns the client parameters the PT announced (SMETHOD ARGS; for
// obfs4: cert and iat-mode). They are public.
func (l *Listener) Params() map[string]string {
	out := make(map[string]string, len(l.args))
	for k, v := range l.args {
		out[k] = v
	}
	return out
}

// Spec returns the client spec for this server reached at addr (host:port);
// its Name is the method, so an obfs4 PT server yields an obfs4 Spec.
func (l *Listener) Spec(addr string) transport.Spec {
	return transport.Spec{Name: l.method, Addr: addr, Params: l.Params()}
}

// Accept returns the next client connection the PT hands over. Its
// RemoteAddr is the client's address as the PT reported it.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("pt: accept: %w", net.ErrClosed)
	case <-l.proc.exited:
		if l.proc.closing() {
			return nil, fmt.Errorf("pt: accept: %w", net.ErrClosed)
		}
		return nil, fmt.Errorf("pt: accept: %w", l.proc.exitErr())
	}
}

// Close stops the PT child and the loopback port. Connections already
// accepted stay open but the PT, which carried them, is gone, so they end.
// Close is idempotent.
func (l *Listener) Close() error {
	l.closeAll()
	return nil
}

// orConn is a conn from the PT. It hides *net.TCPConn's CloseWrite (the PT
// would turn a half-close into a full close of both directions) and reports
// the client's address.
type orConn struct {
	net.Conn
	remote net.Addr // nil when the PT sent no usable USERADDR
}

func (c *orConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

func (l *Listener) closeAll() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	if l.done != nil {
		close(l.done)
	}
	for c := range l.pending {
		c.Close()
	}
	l.mu.Unlock()
	l.orLn.Close()
	l.proc.close()
	l.wg.Wait()
	os.RemoveAll(l.cookieDir)
}
