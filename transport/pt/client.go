package pt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

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
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.socks)
	if err != nil {
		return nil, fmt.Errorf("pt: dialing the PT's SOCKS port: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	err = socks5Connect(raw, d.target, d.user, d.pass)
	if !stop() {
		raw.Close()
		return nil, fmt.Errorf("pt: dialing %s: %w", d.target, ctx.Err())
	}
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("pt: dialing %s: %w", d.target, err)
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

// SOCKS5 (RFC 1928) with username/password authentication (RFC 1929).
const (
	socksVersion     = 5
	socksAuthUserPwd = 2
	socksAuthNoAcc   = 0xff
	socksCmdConnect  = 1
	socksAtypIPv4    = 1
	socksAtypDomain  = 3
	socksAtypIPv6    = 4
	socksUserPwdVer  = 1
)

// socks5Connect runs the client side of a SOCKS5 CONNECT to target with
// username/password authentication, which is how a PT receives the
// per-connection arguments (pt-spec §3.5).
func socks5Connect(c net.Conn, target string, user, pass []byte) error {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("socks5: target %q: %w", target, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fmt.Errorf("socks5: target port %q: %w", portStr, err)
	}
	if len(user) < 1 || len(user) > 255 || len(pass) < 1 || len(pass) > 255 {
		return errors.New("socks5: credentials must be 1-255 bytes each")
	}
	// Method selection: only username/password (RFC 1928 §3).
	if _, err := c.Write([]byte{socksVersion, 1, socksAuthUserPwd}); err != nil {
		return fmt.Errorf("socks5: greeting: %w", err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil {
		return fmt.Errorf("socks5: method reply: %w", err)
	}
	if sel[0] != socksVersion || sel[1] != socksAuthUserPwd {
		return fmt.Errorf("socks5: proxy refused username/password auth (method %#x)", sel[1])
	}
	// RFC 1929 §2.
	auth := []byte{socksUserPwdVer, byte(len(user))}
	auth = append(auth, user...)
	auth = append(auth, byte(len(pass)))
	auth = append(auth, pass...)
	if _, err := c.Write(auth); err != nil {
		return fmt.Errorf("socks5: auth: %w", err)
	}
	var st [2]byte
	if _, err := io.ReadFull(c, st[:]); err != nil {
		return fmt.Errorf("socks5: auth reply: %w", err)
	}
	if st[1] != 0 {
		return errors.New("socks5: PT rejected the transport arguments")
	}
	// CONNECT request (RFC 1928 §4).
	req := []byte{socksVersion, socksCmdConnect, 0}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() {
			req = append(req, socksAtypIPv4)
		} else {
			req = append(req, socksAtypIPv6)
		}
		req = append(req, ip.AsSlice()...)
	} else {
		if len(host) > 255 {
			return errors.New("socks5: host name longer than 255 bytes")
		}
		req = append(req, socksAtypDomain, byte(len(host)))
		req = append(req, host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("socks5: connect: %w", err)
	}
	// Reply (RFC 1928 §6): VER REP RSV ATYP BND.ADDR BND.PORT.
	var head [4]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return fmt.Errorf("socks5: connect reply: %w", err)
	}
	if head[0] != socksVersion {
		return fmt.Errorf("socks5: reply version %d", head[0])
	}
	if head[1] != 0 {
		return fmt.Errorf("socks5: PT could not reach the server: %s", socksReplyText(head[1]))
	}
	var skip int
	switch head[3] {
	case socksAtypIPv4:
		skip = 4 + 2
	case socksAtypIPv6:
		skip = 16 + 2
	case socksAtypDomain:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return fmt.Errorf("socks5: connect reply: %w", err)
		}
		skip = int(n[0]) + 2
	default:
		return fmt.Errorf("socks5: reply address type %d", head[3])
	}
	if _, err := io.ReadFull(c, make([]byte, skip)); err != nil {
		return fmt.Errorf("socks5: connect reply: %w", err)
	}
	return nil
}

// socksReplyText names RFC 1928 §6 reply codes.
func socksReplyText(rep byte) string {
	texts := map[byte]string{
		1: "general failure", 2: "not allowed by ruleset", 3: "network unreachable",
		4: "host unreachable", 5: "connection refused", 6: "TTL expired",
		7: "command not supported", 8: "address type not supported",
	}
	if t, ok := texts[rep]; ok {
		return t
	}
	return fmt.Sprintf("reply code %d", rep)
}

// handshakeTimeout bounds a Dial whose ctx has no deadline, so a wedged PT
// child cannot hang the caller.
const handshakeTimeout = 2 * time.Minute
