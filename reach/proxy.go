package reach

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/proxy"
)

// NetDialer is the TCP step of a transport: net.Dialer, a proxy below, or
// anything with this method (it matches golang.org/x/net/proxy.ContextDialer).
// A transport that takes a NetDialer can go out through the user's proxy.
type NetDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// ProxyFromURL returns a NetDialer that reaches addresses through the proxy
// described by u, reaching the proxy itself with forward (a *net.Dialer if
// nil):
//
//	socks5://[user:pass@]host:port   SOCKS5 (RFC 1928), user/pass per RFC 1929;
//	                                 names are resolved by the proxy
//	http://[user:pass@]host:port     HTTP CONNECT, Basic auth
func ProxyFromURL(u string, forward NetDialer) (NetDialer, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Path != "" && pu.Path != "/") || pu.RawQuery != "" {
		return nil, errors.New("reach: parsing proxy URL: want socks5://[user:pass@]host:port or http://[user:pass@]host:port")
	}
	if _, _, err := net.SplitHostPort(pu.Host); err != nil {
		return nil, errors.New("reach: parsing proxy URL: the proxy needs host:port")
	}
	if forward == nil {
		forward = &net.Dialer{KeepAlive: 30 * time.Second}
	}
	var user, pass string
	if pu.User != nil {
		user = pu.User.Username()
		pass, _ = pu.User.Password()
	}
	switch pu.Scheme {
	case "socks5", "socks5h":
		return &SOCKS5{Addr: pu.Host, Username: user, Password: pass, Forward: forward}, nil
	case "http":
		return &HTTPConnect{Addr: pu.Host, Username: user, Password: pass, Forward: forward}, nil
	}
	return nil, fmt.Errorf("reach: parsing proxy URL: scheme %q; use socks5:// or http://", pu.Scheme)
}

// SOCKS5 is a SOCKS5 CONNECT client (RFC 1928) with optional
// username/password authentication (RFC 1929), on golang.org/x/net/proxy.
// Host names are sent to the proxy unresolved (ATYP 3), so local DNS never
// sees them.
type SOCKS5 struct {
	Addr               string // the proxy, host:port
	Username, Password string // empty Username: no authentication
	Forward            NetDialer
}

// HTTPConnect is an HTTP/1.1 CONNECT proxy client with optional Basic auth.
type HTTPConnect struct {
	Addr               string
	Username, Password string
	Forward            NetDialer
}

var (
	_ NetDialer = (*SOCKS5)(nil)
	_ NetDialer = (*HTTPConnect)(nil)
)

// proxyHandshakeTimeout bounds a proxy's handshake when ctx has no deadline.
const proxyHandshakeTimeout = 30 * time.Second

// withConn runs handshake on conn under ctx: the deadline of ctx (or
// proxyHandshakeTimeout) and its cancellation abort it. On failure conn is
// closed.
func withConn(ctx context.Context, conn net.Conn, handshake func() error) error {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(proxyHandshakeTimeout)
	}
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err := handshake()
	switch {
	case !stop() || ctx.Err() != nil:
		err = errors.Join(ctx.Err(), err)
	case err != nil && ok && !time.Now().Before(dl):
		// The conn deadline (ctx's) fired a moment before ctx noticed.
		err = errors.Join(context.DeadlineExceeded, err)
	}
	if err != nil {
		conn.Close()
		return err
	}
	conn.SetDeadline(time.Time{})
	return nil
}

// DialContext connects to addr (host:port) through the proxy. The SOCKS5
// exchange itself is golang.org/x/net/proxy's.
func (s *SOCKS5) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("reach: socks5: network %q not supported", network)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("reach: socks5: address %q is not host:port", addr)
	}
	var auth *proxy.Auth
	if s.Username != "" {
		if len(s.Username) > 255 || len(s.Password) > 255 {
			return nil, errors.New("reach: socks5: username and password must be at most 255 bytes (RFC 1929)")
		}
		auth = &proxy.Auth{User: s.Username, Password: s.Password}
	}
	var forward proxy.Dialer = proxy.Direct
	if s.Forward != nil {
		forward = forwardDialer{s.Forward}
	}
	d, err := proxy.SOCKS5("tcp", s.Addr, auth, forward)
	if err != nil {
		return nil, fmt.Errorf("reach: socks5: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, proxyHandshakeTimeout)
		defer cancel()
	}
	conn, err := d.(proxy.ContextDialer).DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("reach: socks5: %w%s", withCtxErr(ctx, err), socksHint(err, auth != nil))
	}
	return conn, nil
}

// withCtxErr makes err wrap ctx's error when ctx ended: x/net/proxy
// reports the conn's timeout, which may fire a moment before ctx notices.
func withCtxErr(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if e := ctx.Err(); e != nil {
		return errors.Join(e, err)
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return errors.Join(context.DeadlineExceeded, err)
	}
	return err
}

// socksHint says what to do next when the proxy refused us.
func socksHint(err error, withAuth bool) string {
	switch msg := err.Error(); {
	case strings.Contains(msg, "no acceptable authentication methods") && !withAuth:
		return "; the proxy wants a user name and password: put them in the proxy URL"
	case strings.Contains(msg, "no acceptable authentication methods"),
		strings.Contains(msg, "username/password authentication failed"):
		return "; check the proxy URL's user name and password"
	}
	return ""
}

// forwardDialer gives a NetDialer the Dial method golang.org/x/net/proxy
// asks of the dialer that reaches the proxy (it uses DialContext).
type forwardDialer struct{ NetDialer }

func (f forwardDialer) Dial(network, addr string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, addr)
}

// DialContext connects to addr (host:port) through the proxy.
func (h *HTTPConnect) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("reach: http proxy: network %q not supported", network)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("reach: http proxy: address %q is not host:port", addr)
	}
	conn, err := h.Forward.DialContext(ctx, "tcp", h.Addr)
	if err != nil {
		return nil, fmt.Errorf("reach: http proxy: reaching the proxy: %w", err)
	}
	var br *bufio.Reader
	err = withConn(ctx, conn, func() error {
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: make(http.Header)}
		if h.Username != "" {
			cred := base64.StdEncoding.EncodeToString([]byte(h.Username + ":" + h.Password))
			req.Header.Set("Proxy-Authorization", "Basic "+cred)
		}
		if err := req.Write(conn); err != nil {
			return fmt.Errorf("sending CONNECT: %w", err)
		}
		br = bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return fmt.Errorf("reading the reply: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			if resp.StatusCode == http.StatusProxyAuthRequired {
				return errors.New("the proxy wants a user name and password; put them in the proxy URL")
			}
			return fmt.Errorf("the proxy refused: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reach: http proxy: %w", err)
	}
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn returns bytes the proxy sent right after its reply first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
