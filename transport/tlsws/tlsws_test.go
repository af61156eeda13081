package tlsws

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

const coverPage = "<!doctype html><title>Bakery</title><p>Fresh bread daily.</p>\n"

// testServer starts a tlsws server with a static cover site and returns it
// with a matching dial config.
func testServer(t testing.TB) (*Listener, DialConfig) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(coverPage), 0o644); err != nil {
		t.Fatal(err)
	}
	return testServerWithCover(t, dir)
}

// testServerWithCover is testServer serving the cover site in dir.
func testServerWithCover(t testing.TB, dir string) (*Listener, DialConfig) {
	t.Helper()
	cert, err := SelfSigned("relay.example", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	ln, err := Listen(ListenConfig{Addr: "127.0.0.1:0", Secret: secret, Cover: CoverDir(dir), Certificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, DialConfig{
		Addr:   ln.Addr().String(),
		Host:   "relay.example",
		SNI:    "front.example",
		Secret: secret,
		Pin:    PinOf(cert.Leaf),
	}
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transport.Dialer, transport.Listener) {
		ln, cfg := testServer(t)
		d, err := NewDialer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d, ln
	})
}

func TestSpecRoundTrip(t *testing.T) {
	_, cfg := testServer(t)
	text := cfg.Spec().String()
	s, err := transport.ParseSpec(text)
	if err != nil {
		t.Fatalf("ParseSpec(%s): %v", cfg.Spec().Name, err)
	}
	d, err := DialerFromSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	transporttest.Dial(t, d, "dialing from the parsed spec").Close()
	if s.String() != text {
		t.Fatal("spec text form is not canonical")
	}
}

// httpsClient talks to the relay as an ordinary HTTPS client would.
func httpsClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
	}}
}

func get(t *testing.T, c *http.Client, u string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestCoverForEveryoneElse: without the secret, the relay is the website.
func TestCoverForEveryoneElse(t *testing.T) {
	ln, cfg := testServer(t)
	base := "https://" + ln.Addr().String()
	c := httpsClient()

	resp, body := get(t, c, base+"/", nil)
	if resp.StatusCode != 200 || string(body) != coverPage {
		t.Fatalf("GET / = %d %q, want the cover page", resp.StatusCode, body)
	}
	if resp.ProtoMajor != 1 {
		t.Fatalf("server spoke HTTP/%d; it must offer only http/1.1", resp.ProtoMajor)
	}
	wsHeaders := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	wrong := make([]byte, 32)
	rand.Read(wrong)
	for _, path := range []string{"/nothing-here", SecretPath(wrong), SecretPath(cfg.Secret) + "x", strings.ToUpper(SecretPath(cfg.Secret))} {
		_, coverBody := get(t, c, base+"/nothing-here", nil)
		resp, body := get(t, c, base+path, wsHeaders)
		if resp.StatusCode != 404 || !bytes.Equal(body, coverBody) {
			t.Errorf("upgrade on a wrong path got %d %q; want the cover's 404", resp.StatusCode, body)
		}
	}
	// The right path without an upgrade is the cover's too.
	resp, body = get(t, c, base+SecretPath(cfg.Secret), nil)
	_, coverBody := get(t, c, base+"/nothing-here", nil)
	if resp.StatusCode != 404 || !bytes.Equal(body, coverBody) {
		t.Errorf("plain GET on the secret path got %d %q; want the cover's 404", resp.StatusCode, body)
	}
}

func TestCoverProxy(t *testing.T) {
	cover := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cover", "yes")
		io.WriteString(w, "cover says "+r.URL.Path+" host="+r.Host)
	}))
	defer cover.Close()
	u, _ := url.Parse(cover.URL)
	cert, err := SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(ListenConfig{Addr: "127.0.0.1:0", Secret: bytes.Repeat([]byte{7}, 16), Cover: CoverProxy(u), Certificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	resp, body := get(t, httpsClient(), "https://"+ln.Addr().String()+"/a/b", nil)
	want := "cover says /a/b host=" + u.Host
	if string(body) != want || resp.Header.Get("X-Cover") != "yes" {
		t.Fatalf("proxied answer %q (X-Cover %q), want %q", body, resp.Header.Get("X-Cover"), want)
	}
}

func TestWrongSecretOrPinFails(t *testing.T) {
	_, cfg := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	bad := cfg
	bad.Secret = bytes.Repeat([]byte{1}, 32)
	d, _ := NewDialer(bad)
	if c, err := d.Dial(ctx); err == nil {
		c.Close()
		t.Error("dial with the wrong secret succeeded")
	}
	other, _ := SelfSigned("x")
	bad = cfg
	bad.Pin = PinOf(other.Leaf)
	d, _ = NewDialer(bad)
	if c, err := d.Dial(ctx); err == nil {
		c.Close()
		t.Error("dial with the wrong pin succeeded")
	}
	bad = cfg
	bad.Pin = ""
	d, _ = NewDialer(bad)
	if c, err := d.Dial(ctx); err == nil {
		c.Close()
		t.Error("dial without a pin accepted a self-signed certificate")
	}
}

// TestWebSocketALPN: the http/1.1-only hello (for CDNs that pick h2) works.
func TestWebSocketALPN(t *testing.T) {
	_, cfg := testServer(t)
	cfg.WebSocketALPN = true
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := transporttest.Dial(t, d, "dialing with the http/1.1-only hello")
	c.Write([]byte("x"))
}

// TestH2FallBack: a server (a CDN) that picks h2 makes the dialer retry
// with http/1.1 only, and the second try reaches the tunnel.
func TestH2FallBack(t *testing.T) {
	ln, cfg := testServer(t)
	cert, _ := SelfSigned("127.0.0.1")
	front, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	var mu sync.Mutex // guards protos
	var protos []string
	go func() {
		for {
			c, err := front.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if tc.Handshake() != nil {
				c.Close()
				continue
			}
			mu.Lock()
			protos = append(protos, tc.ConnectionState().NegotiatedProtocol)
			mu.Unlock()
			if tc.ConnectionState().NegotiatedProtocol == "h2" {
				c.Close()
				continue
			}
			// A TLS-terminating front: forward plaintext to the relay over TLS.
			up, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	cfg.Addr = front.Addr().String()
	cfg.Pin = PinOf(cert.Leaf)
	d, _ := NewDialer(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		t.Fatalf("dial through an h2-preferring front: %v", err)
	}
	defer c.Close()
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(protos, ",") != "h2,http/1.1" {
		t.Fatalf("front negotiated %v, want h2 then http/1.1", protos)
	}
}
