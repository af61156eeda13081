package reach

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
)

// echoServer greets with "hi\n" and then echoes.
func echoServer(t *testing.T) string { return testnet.ServeTCP(t, testnet.Greet("hi\n")) }

func serve(t *testing.T, handle func(net.Conn)) string { return testnet.ServeTCP(t, handle) }

func pipeBoth(a, b net.Conn) {
	go func() { io.Copy(a, b); a.Close() }()
	io.Copy(b, a)
	b.Close()
}

// socksServer is a minimal SOCKS5 server (RFC 1928 CONNECT, RFC 1929
// user/pass when user != ""). It records the ATYP of the last request.
func socksServer(t *testing.T, user, pass string, lastAtyp *atomic.Int32) string {
	return serve(t, func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		var hdr [2]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil || hdr[0] != 5 {
			return
		}
		methods := make([]byte, hdr[1])
		io.ReadFull(r, methods)
		want := byte(0)
		if user != "" {
			want = 2
		}
		if !strings.Contains(string(methods), string([]byte{want})) {
			c.Write([]byte{5, 0xff})
			return
		}
		c.Write([]byte{5, want})
		if want == 2 {
			ver, _ := r.ReadByte()
			ul, _ := r.ReadByte()
			u := make([]byte, ul)
			io.ReadFull(r, u)
			pl, _ := r.ReadByte()
			p := make([]byte, pl)
			io.ReadFull(r, p)
			if ver != 1 || string(u) != user || string(p) != pass {
				c.Write([]byte{1, 1})
				return
			}
			c.Write([]byte{1, 0})
		}
		var req [4]byte
		if _, err := io.ReadFull(r, req[:]); err != nil || req[0] != 5 || req[1] != 1 {
			return
		}
		lastAtyp.Store(int32(req[3]))
		var host string
		switch req[3] {
		case 1:
			b := make([]byte, 4)
			io.ReadFull(r, b)
			host = net.IP(b).String()
		case 4:
			b := make([]byte, 16)
			io.ReadFull(r, b)
			host = net.IP(b).String()
		case 3:
			l, _ := r.ReadByte()
			b := make([]byte, l)
			io.ReadFull(r, b)
			host = string(b)
		}
		var pb [2]byte
		io.ReadFull(r, pb[:])
		up, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb[:])))))
		if err != nil {
			c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
			return
		}
		// A domain-name BND.ADDR, to exercise that branch of the reply parser.
		c.Write([]byte{5, 0, 0, 3, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0x1f, 0x90})
		pipeBoth(c, up)
	})
}

// connectServer is a minimal HTTP CONNECT proxy with optional Basic auth.
// It writes its reply and the upstream's greeting in one write, so the
// client's reply reader buffers bytes of the tunnel.
func connectServer(t *testing.T, user, pass string) string {
	return serve(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Method != http.MethodConnect {
			return
		}
		if user != "" {
			u, p, ok := parseProxyAuth(req.Header.Get("Proxy-Authorization"))
			if !ok || u != user || p != pass {
				io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
				return
			}
		}
		up, err := net.Dial("tcp", req.Host)
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		greeting := make([]byte, 3)
		io.ReadFull(up, greeting)
		c.Write(append([]byte("HTTP/1.1 200 Connection established\r\n\r\n"), greeting...))
		pipeBoth(c, up)
	})
}

func parseProxyAuth(h string) (string, string, bool) {
	r := &http.Request{Header: http.Header{"Authorization": {h}}}
	return r.BasicAuth()
}

// echoVia dials target (an echoServer) through d and checks the echo.
func echoVia(t *testing.T, d NetDialer, target string) {
	t.Helper()
	c, err := d.DialContext(context.Background(), "tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	checkEcho(t, c)
}

func checkEcho(t *testing.T, c net.Conn) {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "hi\n" {
		t.Fatalf("greeting %q, %v", line, err)
	}
	io.WriteString(c, "ping\n")
	if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
}

func TestSOCKS5(t *testing.T) {
	target := echoServer(t)
	_, port, _ := net.SplitHostPort(target)
	var atyp atomic.Int32
	ctx := context.Background()

	open := socksServer(t, "", "", &atyp)
	d, err := ProxyFromURL("socks5://"+open, nil)
	if err != nil {
		t.Fatal(err)
	}
	echoVia(t, d, target)
	if atyp.Load() != 1 {
		t.Errorf("IPv4 target sent with ATYP %d", atyp.Load())
	}
	// Names go to the proxy unresolved.
	echoVia(t, d, "localhost:"+port)
	if atyp.Load() != 3 {
		t.Errorf("host name sent with ATYP %d", atyp.Load())
	}
	// An IPv6 literal goes as ATYP 4 (the test proxy cannot reach it: only
	// the request matters here).
	d.DialContext(ctx, "tcp", "[2001:db8::1]:"+port)
	if atyp.Load() != 4 {
		t.Errorf("IPv6 target sent with ATYP %d", atyp.Load())
	}

	auth := socksServer(t, "olga", "s3cret", &atyp)
	d, _ = ProxyFromURL("socks5://olga:s3cret@"+auth, nil)
	echoVia(t, d, target)
	for name, u := range map[string]string{"wrong password": "socks5://olga:nope@" + auth, "no credentials": "socks5://" + auth} {
		d, _ := ProxyFromURL(u, nil)
		if _, err := d.DialContext(ctx, "tcp", target); err == nil {
			t.Errorf("%s: connected", name)
		} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "nope") {
			t.Errorf("%s: the password is in the error: %v", name, err)
		} else if !strings.Contains(err.Error(), "user name and password") {
			t.Errorf("%s: the error does not say what to fix: %v", name, err)
		}
	}
	// The proxy cannot reach the target: its reply code is reported.
	d, _ = ProxyFromURL("socks5://"+open, nil)
	ln, _ := net.Listen("tcp", "127.0.0.1:0") // a port nobody listens on after Close
	closedAddr := ln.Addr().String()
	ln.Close()
	if _, err := d.DialContext(ctx, "tcp", closedAddr); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable target: %v", err)
	}
}

func TestHTTPConnect(t *testing.T) {
	target := echoServer(t)
	ctx := context.Background()
	open := connectServer(t, "", "")
	d, err := ProxyFromURL("http://"+open, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*bufferedConn); !ok {
		t.Error("the greeting sent with the reply was not buffered (test did not exercise it)")
	}
	checkEcho(t, c)

	auth := connectServer(t, "olga", "s3cret")
	d, _ = ProxyFromURL("http://olga:s3cret@"+auth, nil)
	echoVia(t, d, target)
	d, _ = ProxyFromURL("http://"+auth, nil)
	if _, err := d.DialContext(ctx, "tcp", target); err == nil || !strings.Contains(err.Error(), "user name and password") {
		t.Errorf("no credentials: %v", err)
	}
}

func TestProxyHonoursContext(t *testing.T) {
	// A proxy that accepts and never answers.
	silent := serve(t, func(c net.Conn) { time.Sleep(10 * time.Second); c.Close() })
	for _, scheme := range []string{"socks5", "http"} {
		d, _ := ProxyFromURL(scheme+"://"+silent, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		_, err := d.DialContext(ctx, "tcp", "192.0.2.1:443")
		cancel()
		if err == nil || time.Since(start) > 3*time.Second {
			t.Errorf("%s: %v after %v", scheme, err, time.Since(start))
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: error %v does not wrap the context's", scheme, err)
		}
	}
}

func TestProxyFromURLRejects(t *testing.T) {
	for _, u := range []string{"", "ftp://a:1", "socks5://nohost", "http://a:1/path", "socks5://a:1?x=1", "::"} {
		if _, err := ProxyFromURL(u, nil); err == nil {
			t.Errorf("ProxyFromURL(%q) accepted", u)
		}
	}
	d, _ := ProxyFromURL("socks5://127.0.0.1:1", nil)
	if _, err := d.DialContext(context.Background(), "tcp", "a:0"); err == nil {
		t.Error("port 0 accepted")
	}
}
