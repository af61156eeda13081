//go:build !js

package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func testHandler(t *testing.T) (*httptest.Server, *Listener, string) {
	t.Helper()
	ln := NewListener()
	prefix := NewSecret()
	h, err := NewHandler(Options{Prefix: prefix, Conns: ln})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); ln.Close() })
	return srv, ln, prefix
}

func TestHeadersAndSecretPath(t *testing.T) {
	srv, _, prefix := testHandler(t)
	for _, c := range []struct {
		path string
		want []int
	}{
		{"/", []int{404}},
		{"/index.html", []int{404}},
		{prefix[:len(prefix)-1], []int{404}}, // without the slash: not the app
		{prefix, []int{200, 503}},            // 503 when built without `go generate`
		{prefix + "style.css", []int{200, 503}},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ok := false
		for _, w := range c.want {
			ok = ok || resp.StatusCode == w
		}
		if !ok {
			t.Errorf("GET %s: %d, want one of %v", c.path, resp.StatusCode, c.want)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != CSP {
			t.Errorf("GET %s: CSP %q", c.path, got)
		}
		if resp.StatusCode == 503 && !strings.Contains(string(body), "go generate ./web") {
			t.Errorf("GET %s: the not-built page says %q, not what to run", c.path, body)
		}
	}
}

func TestCSPForbidsInlineAndForeign(t *testing.T) {
	for _, must := range []string{"default-src 'self'", "script-src 'self' 'wasm-unsafe-eval';", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(CSP, must) {
			t.Errorf("CSP lacks %q", must)
		}
	}
	for _, never := range []string{"unsafe-inline", "'unsafe-eval'", "http:", "https:", "*"} {
		if strings.Contains(CSP, never) {
			t.Errorf("CSP allows %q", never)
		}
	}
	// blob: and data: URLs are for images only (a received image, the
	// invite QR): a script, frame or connection from one would be the
	// page's own origin running what a message carried.
	for _, d := range strings.Split(CSP, ";") {
		d = strings.TrimSpace(d)
		if !strings.HasPrefix(d, "img-src ") && (strings.Contains(d, "blob:") || strings.Contains(d, "data:")) {
			t.Errorf("CSP directive %q allows blob: or data:", d)
		}
	}
}

func TestWebSocketReachesListener(t *testing.T) {
	srv, ln, prefix := testHandler(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + prefix + "ws"
	c, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
	got := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer conn.Close()
		if !strings.HasPrefix(conn.RemoteAddr().String(), "127.0.0.1:") {
			got <- "remote " + conn.RemoteAddr().String()
			return
		}
		buf := make([]byte, 5)
		io.ReadFull(conn, buf)
		conn.Write([]byte("pong:" + string(buf)))
		got <- string(buf)
	}()
	nc.Write([]byte("he"))
	nc.Write([]byte("llo")) // two messages, one stream
	if s := <-got; s != "hello" {
		t.Fatalf("listener read %q", s)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "pong:hello" {
		t.Fatalf("browser read %q, %v", buf, err)
	}
}

// TestAdversaryCrossOriginWebSocket: a page on another site, open in the
// same browser, must not open the stream (it would speak for the user's
// network position). Without the origin check the handshake succeeds.
func TestAdversaryCrossOriginWebSocket(t *testing.T) {
	srv, _, prefix := testHandler(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + prefix + "ws"
	h := http.Header{"Origin": {"https://evil.example"}}
	c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		c.CloseNow()
		t.Fatal("a cross-origin WebSocket handshake was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin handshake: %v, %v", resp, err)
	}
}

func TestAccepts(t *testing.T) {
	for _, c := range []struct {
		h, enc string
		want   bool
	}{
		{"gzip, deflate, br, zstd", "br", true},
		{"gzip;q=0", "gzip", false},
		{"identity", "gzip", false},
		{"GZIP", "gzip", true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", c.h)
		if got := accepts(r, c.enc); got != c.want {
			t.Errorf("accepts(%q, %s) = %v", c.h, c.enc, got)
		}
	}
}

// TestReadDeadlineKeepsStream: the server sets a short read deadline on an
// idle session (server/session.go idleHandoff, 1 s) and waits again after
// it expires, as it may on a TCP connection. On the WebSocket stream as
// coder/websocket's NetConn gives it, an expired deadline cancels the read
// and closes the WebSocket: every browser session ended after a second
// idle (the group commit of issue #15 never got out). Before the fix the
// read after the timeout failed with "use of closed network connection".
func TestReadDeadlineKeepsStream(t *testing.T) {
	srv, ln, prefix := testHandler(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+prefix+"ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 5)
	_, err = conn.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	conn.SetReadDeadline(time.Time{})
	if _, err := nc.Write([]byte("after")); err != nil {
		t.Fatalf("browser write after the server's timeout: %v", err)
	}
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "after" {
		t.Fatalf("server read after its timeout: %q, %v", buf, err)
	}
	if _, err := conn.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "reply" {
		t.Fatalf("browser read %q, %v", buf, err)
	}
}
