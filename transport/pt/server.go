package pt

import (
	"context"
	"errors"
	"fmt"
	"net"

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
// client that completes it to a loopback port of ours (TOR_PT_ORPORT), where
// Accept returns it.
type Listener struct {
	proc   *process
	orLn   net.Listener // our loopback "ORPort"
	addr   *net.TCPAddr // where the PT listens
	method string
	args   map[string]string // SMETHOD ARGS: the client parameters
}

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
	env := []string{
		"TOR_PT_SERVER_TRANSPORTS=" + cfg.Method,
		"TOR_PT_SERVER_BINDADDR=" + cfg.Method + "-" + cfg.BindAddr,
		"TOR_PT_ORPORT=" + orLn.Addr().String(),
	}
	if len(cfg.Options) > 0 {
		env = append(env, "TOR_PT_SERVER_TRANSPORT_OPTIONS="+encodeServerOptions(cfg.Method, cfg.Options))
	}
	proc, lines, err := start(ctx, cfg.Config, env, "SMETHOD")
	if err != nil {
		orLn.Close()
		return nil, err
	}
	l := &Listener{proc: proc, orLn: orLn, method: cfg.Method}
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
	go func() {
		<-proc.exited
		orLn.Close()
	}()
	return l, nil
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
// RemoteAddr is the PT's loopback address, not the client's.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.orLn.Accept()
	if err == nil {
		return orConn{c}, nil
	}
	if exit := l.proc.exitErr(); exit != nil && !l.proc.closing() {
		return nil, fmt.Errorf("pt: accept: %w", exit)
	}
	if errors.Is(err, net.ErrClosed) {
		return nil, fmt.Errorf("pt: accept: %w", net.ErrClosed)
	}
	return nil, fmt.Errorf("pt: accept: %w", err)
}

// Close stops the PT child and the loopback port. Connections already
// accepted stay open but the PT, which carried them, is gone, so they end.
func (l *Listener) Close() error {
	l.closeAll()
	return nil
}

// orConn is a conn from the PT. It hides *net.TCPConn's CloseWrite: the PT
// would turn a half-close into a full close of both directions.
type orConn struct{ net.Conn }

func (l *Listener) closeAll() {
	l.proc.close()
	l.orLn.Close()
}
