package tlsws

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
)

// The live Chromium comparison: run the installed Chromium headless against
// a local TLS listener that records every ClientHello, have it load a page
// that opens a WebSocket, and compare its hellos with ours. With
// -update-chrome-hello the page-load and WebSocket hellos are written to
// chrome_hello.go's fixture file (chrome_hello_fixture.txt), which is the
// command that refreshes the fixture:
//
//	go test ./transport/tlsws -run TestChromeHelloLive -update-chrome-hello

var updateChromeHello = flag.Bool("update-chrome-hello", false, "rewrite the captured Chromium hello fixture from the installed Chromium")

func chromiumBinary(t testing.TB) string {
	for _, name := range []string{"chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return testenv.LookPath(t, "chromium", "apt-get install chromium")
}

// recordingConn keeps the first bytes the client sent.
type recordingConn struct {
	net.Conn
	mu  *sync.Mutex
	rec *[]byte
}

func (c recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	if len(*c.rec) < 1<<14 {
		*c.rec = append(*c.rec, b[:n]...)
	}
	c.mu.Unlock()
	return n, err
}

type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*[]byte
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rec := new([]byte)
	l.mu.Lock()
	l.conns = append(l.conns, rec)
	l.mu.Unlock()
	return recordingConn{Conn: c, mu: &l.mu, rec: rec}, nil
}

// hellos returns the ClientHellos recorded so far.
func (l *recordingListener) hellos() []*tlsfingerprint.ClientHello {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*tlsfingerprint.ClientHello
	for _, r := range l.conns {
		if h, err := tlsfingerprint.ParseRecords(*r); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// captureChromium returns Chromium's page-load hello (ALPN h2,http/1.1) and
// WebSocket hello (ALPN http/1.1 only), as handshake messages.
func captureChromium(t *testing.T) (page, ws *tlsfingerprint.ClientHello) {
	bin := chromiumBinary(t)
	cert, err := SelfSigned("cover.test")
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordingListener{Listener: inner}
	port := inner.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>t</title><script>new WebSocket("wss://cover.test:%d/ws");</script>`, port)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) })
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{
		Certificates:           []tls.Certificate{cert},
		NextProtos:             []string{"http/1.1"}, // so the page load does not carry the WebSocket over h2
		SessionTicketsDisabled: true,                 // no resumption: every hello is a full one
	}, ErrorLog: nil}
	go srv.ServeTLS(rl, "", "")
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--ignore-certificate-errors",
		"--host-resolver-rules=MAP cover.test 127.0.0.1",
		"--virtual-time-budget=3000", "--dump-dom", fmt.Sprintf("https://cover.test:%d/", port))
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	deadline := time.After(50 * time.Second)
	for page == nil || ws == nil {
		select {
		case <-deadline:
			t.Fatalf("Chromium sent no page and WebSocket hellos (page %v, ws %v): %s", page != nil, ws != nil, stderr.String())
		case err := <-done:
			done <- err
			time.Sleep(100 * time.Millisecond)
			for _, h := range rl.hellos() {
				classify(h, &page, &ws)
			}
			if page == nil || ws == nil {
				t.Fatalf("Chromium ended (%v) with page hello %v, WebSocket hello %v: %s", err, page != nil, ws != nil, stderr.String())
			}
		case <-time.After(100 * time.Millisecond):
			for _, h := range rl.hellos() {
				classify(h, &page, &ws)
			}
		}
	}
	cancel()
	return page, ws
}

func classify(h *tlsfingerprint.ClientHello, page, ws **tlsfingerprint.ClientHello) {
	switch {
	case slices.Equal(h.ALPN, alpnChrome) && *page == nil:
		*page = h
	case slices.Equal(h.ALPN, alpnWebSocket) && *ws == nil:
		*ws = h
	}
}

// TestChromeHelloLive: the installed Chromium's hellos have the JA4 and
// JA3N of ours, for a page load and for a WebSocket connection.
func TestChromeHelloLive(t *testing.T) {
	page, ws := captureChromium(t)
	if *updateChromeHello {
		content := fmt.Sprintf("# Chromium ClientHellos captured by: go test ./transport/tlsws -run TestChromeHelloLive -update-chrome-hello\n# page load: JA4 %s JA3N %s\n%s\n# WebSocket connection: JA4 %s JA3N %s\n%s\n",
			page.JA4(), page.JA3N(), hex.EncodeToString(page.Raw), ws.JA4(), ws.JA3N(), hex.EncodeToString(ws.Raw))
		if err := os.WriteFile(filepath.Join("chrome_hello_fixture.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("fixture rewritten: page JA4 %s, WebSocket JA4 %s", page.JA4(), ws.JA4())
	}
	for _, c := range []struct {
		name   string
		chrome *tlsfingerprint.ClientHello
		wsALPN bool
	}{{"page load", page, false}, {"WebSocket", ws, true}} {
		first := firstFlight(t, c.wsALPN)
		ours, err := tlsfingerprint.ParseRecords(first)
		if err != nil {
			t.Fatal(err)
		}
		if ours.JA4() != c.chrome.JA4() || ours.JA3N() != c.chrome.JA3N() {
			t.Errorf("%s: our hello JA4 %s JA3N %s; the installed Chromium's JA4 %s JA3N %s\nours:   %s\nchrome: %s",
				c.name, ours.JA4(), ours.JA3N(), c.chrome.JA4(), c.chrome.JA3N(), ours.JA3NString(), c.chrome.JA3NString())
		} else {
			t.Logf("%s: JA4 %s, JA3N %s, same as the installed Chromium", c.name, ours.JA4(), ours.JA3N())
		}
	}
}
