package pt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/net/proxy"

	"github.com/samizdat-project/samizdat/transport"
)

// Client is a PT binary running in client mode: for each transport method
// it offers a local SOCKS5 listener, through which Dialers reach servers.
type Client struct {
	proc  *process
	socks map[string]string // method name -> SOCKS5 host:port
	errs  map[string]string // method name -> CMETHOD-ERROR text
}

// StartClient launches cfg.Path as a client for methods (e.g. "obfs4"),
// following pt-spec §3.2.2, and waits for its CMETHOD lines. ctx bounds only
// the start; the child runs until Close. A method the child refuses is an
// error.
func StartClient(ctx context.Context, cfg Config, methods ...string) (*Client, error) {
	if len(methods) == 0 {
		return nil, fmt.Errorf("pt: starting client: no transport method requested")
	}
	for _, m := range methods {
		if !validMethodName(m) {
			return nil, fmt.Errorf("pt: starting client: bad method name %q", m)
		}
	}
	env := []string{"TOR_PT_CLIENT_TRANSPORTS=" + strings.Join(methods, ",")}
	proc, lines, err := start(ctx, cfg, env, "CMETHOD")
	if err != nil {
		return nil, err
	}
	c := &Client{proc: proc, socks: map[string]string{}, errs: map[string]string{}}
	for _, l := range lines {
		if l.errText != "" {
			c.errs[l.name] = l.errText
		} else {
			c.socks[l.name] = l.addr
		}
	}
	for _, m := range methods {
		if _, ok := c.socks[m]; !ok {
			why := c.errs[m]
			if why == "" {
				why = "no CMETHOD line for it"
			}
			proc.close()
			return nil, fmt.Errorf("pt: starting client: %s: method %q unavailable: %s", cfg.Path, m, why)
		}
	}
	return c, nil
}

// validMethodName: pt-spec §3.1, C identifiers.
func validMethodName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// SOCKSAddr returns the child's SOCKS5 address for method.
func (c *Client) SOCKSAddr(method string) (string, bool) {
	a, ok := c.socks[method]
	return a, ok
}

// Done is closed when the child process has exited.
func (c *Client) Done() <-chan struct{} { return c.proc.exited }

// Err reports why the child exited, with its last output; nil while it runs.
func (c *Client) Err() error { return c.proc.exitErr() }

// Close stops the child (stdin close, SIGTERM, SIGKILL) and waits for it.
// Connections made through it break.
func (c *Client) Close() error {
	c.proc.close()
	return nil
}

// NewDialer returns a Dialer for an endpoint of a transport the child runs:
// spec.Name is the PT method (e.g. "obfs4"), spec.Addr the server, and
// spec.Params the per-connection arguments (for obfs4: cert, iat-mode). The
// same obfs4 Spec works with transport/obfs4 and here.
func (c *Client) NewDialer(spec transport.Spec) (*Dialer, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("pt: %w", err)
	}
	socks, ok := c.socks[spec.Name]
	if !ok {
		return nil, fmt.Errorf("pt: the PT child does not run transport %q", spec.Name)
	}
	user, pass, err := socksCredentials(encodeClientArgs(spec.Params))
	if err != nil {
		return nil, err
	}
	return &Dialer{client: c, socks: socks, target: spec.Addr, user: user, pass: pass}, nil
}

// Dialer reaches one server through the PT child's SOCKS5 listener.
type Dialer struct {
	client     *Client
	socks      string
	target     string
	user, pass []byte // per-connection args, pt-spec §3.5
}

var _ transport.Dialer = (*Dialer)(nil)

// Dial asks the PT child to connect to the server. The child replies to the
// SOCKS CONNECT only once its own handshake with the server is done, so a
// returned conn carries the caller's bytes only.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	select {
	case <-d.client.proc.exited:
		return nil, fmt.Errorf("pt: dialing %s: %w", d.target, d.client.Err())
	default:
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, handshakeTimeout)
		defer cancel()
	}
	// The per-connection arguments travel as the SOCKS5 user name and
	// password (pt-spec §3.5); the SOCKS5 client is golang.org/x/net/proxy's.
	socks, err := proxy.SOCKS5("tcp", d.socks, &proxy.Auth{User: string(d.user), Password: string(d.pass)}, proxy.Direct)
	if err != nil {
		return nil, fmt.Errorf("pt: dialing %s: %w", d.target, err)
	}
	raw, err := socks.(proxy.ContextDialer).DialContext(ctx, "tcp", d.target)
	if err != nil {
		switch {
		case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
			err = errors.Join(ctx.Err(), err)
		case ctx.Err() == nil && errors.Is(err, os.ErrDeadlineExceeded):
			// x/net/proxy puts ctx's deadline on the conn, whose read can
			// time out a moment before ctx's own timer fires: the same
			// deadline, so say so.
			err = errors.Join(context.DeadlineExceeded, err)
		}
		return nil, fmt.Errorf("pt: dialing %s through the PT's SOCKS port: %w", d.target, err)
	}
	return &socksConn{Conn: raw, remote: targetAddr(d.target)}, nil
}

// socksConn is the conn to the PT child; RemoteAddr names the server. It
// embeds net.Conn, not *net.TCPConn, to hide CloseWrite: a PT such as
// obfs4proxy turns a half-close into a full close of both directions, so
// this transport cannot half-close (see SPEC.md).
type socksConn struct {
	net.Conn
	remote net.Addr
}

func (c *socksConn) RemoteAddr() net.Addr { return c.remote }

// targetAddr is the server's address as given in the spec.
type targetAddr string

func (a targetAddr) Network() string { return "tcp" }
func (a targetAddr) String() string  { return string(a) }

// handshakeTimeout bounds a Dial whose ctx has no deadline, so a wedged PT
// child cannot hang the caller.
const handshakeTimeout = 2 * time.Minute
