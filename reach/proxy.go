package reach

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
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
// username/password authentication (RFC 1929). Host names are sent to the
// proxy unresolved (ATYP 3), so local DNS never sees them.
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

// DialContext connects to addr (host:port) through the proxy.
func (s *SOCKS5) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("reach: socks5: network %q not supported", network)
	}
	req, err := socksConnectRequest(addr)
	if err != nil {
		return nil, err
	}
	if len(s.Username) > 255 || len(s.Password) > 255 {
		return nil, errors.New("reach: socks5: username and password must be at most 255 bytes (RFC 1929)")
	}
	conn, err := s.Forward.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, fmt.Errorf("reach: socks5: reaching the proxy: %w", err)
	}
	err = withConn(ctx, conn, func() error { return s.handshake(conn, req) })
	if err != nil {
		return nil, fmt.Errorf("reach: socks5: %w", err)
	}
	return conn, nil
}

// socksConnectRequest builds the CONNECT request, RFC 1928 §4.
func socksConnectRequest(addr string) ([]byte, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("reach: socks5: address %q is not host:port", addr)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("reach: socks5: bad port in %q", addr)
	}
	req := []byte{5, 1, 0} // VER, CMD=CONNECT, RSV
	if ip := net.ParseIP(host); ip != nil {
		if ip4 := ip.To4(); ip4 != nil {
			req = append(append(req, 1), ip4...) // ATYP IPv4
		} else {
			req = append(append(req, 4), ip.To16()...) // ATYP IPv6
		}
	} else {
		if len(host) == 0 || len(host) > 255 {
			return nil, fmt.Errorf("reach: socks5: host name of %d bytes (1-255)", len(host))
		}
		req = append(append(req, 3, byte(len(host))), host...) // ATYP DOMAINNAME
	}
	return binary.BigEndian.AppendUint16(req, uint16(port)), nil
}

func (s *SOCKS5) handshake(conn net.Conn, req []byte) error {
	// RFC 1928 §3: version identifier/method selection.
	methods := []byte{5, 1, 0} // no authentication
	if s.Username != "" {
		methods = []byte{5, 1, 2} // username/password only: never fall back to none
	}
	if _, err := conn.Write(methods); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(conn, sel[:]); err != nil {
		return fmt.Errorf("reading method: %w", err)
	}
	if sel[0] != 5 {
		return errors.New("the proxy is not a SOCKS5 proxy")
	}
	switch {
	case sel[1] == 0xff:
		return errors.New("the proxy accepts none of our authentication methods; check the proxy's user name and password")
	case sel[1] == 2 && s.Username != "":
		// RFC 1929 §2: VER=1, ULEN, UNAME, PLEN, PASSWD.
		auth := append([]byte{1, byte(len(s.Username))}, s.Username...)
		auth = append(append(auth, byte(len(s.Password))), s.Password...)
		if _, err := conn.Write(auth); err != nil {
			return fmt.Errorf("authenticating: %w", err)
		}
		var st [2]byte
		if _, err := io.ReadFull(conn, st[:]); err != nil {
			return fmt.Errorf("reading authentication status: %w", err)
		}
		if st[1] != 0 { // RFC 1929 §2: 0 is success
			return errors.New("the proxy refused the user name or password")
		}
	case sel[1] == 0 && s.Username == "":
	default:
		return fmt.Errorf("the proxy chose method %d, which we did not offer", sel[1])
	}
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("sending CONNECT: %w", err)
	}
	// RFC 1928 §6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT.
	var head [4]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return fmt.Errorf("reading reply: %w", err)
	}
	if head[0] != 5 {
		return errors.New("malformed reply")
	}
	if head[1] != 0 {
		return fmt.Errorf("the proxy could not connect: %s", socksReply(head[1]))
	}
	var skip int
	switch head[3] {
	case 1:
		skip = 4
	case 4:
		skip = 16
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return fmt.Errorf("reading reply: %w", err)
		}
		skip = int(l[0])
	default:
		return errors.New("malformed reply address")
	}
	if _, err := io.CopyN(io.Discard, conn, int64(skip+2)); err != nil {
		return fmt.Errorf("reading reply: %w", err)
	}
	return nil
}

// socksReply names a REP code, RFC 1928 §6.
func socksReply(rep byte) string {
	names := []string{1: "general failure", 2: "not allowed by ruleset", 3: "network unreachable", 4: "host unreachable",
		5: "connection refused", 6: "TTL expired", 7: "command not supported", 8: "address type not supported"}
	if int(rep) < len(names) && names[rep] != "" {
		return names[rep]
	}
	return fmt.Sprintf("reply code %d", rep)
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
