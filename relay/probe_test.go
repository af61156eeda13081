package relay

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/tlsws"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

// The probe test: what an active prober (IMC 2020, "How China Detects and
// Blocks Shadowsocks") sends to a suspected relay, sent both to a tlsws
// relay and to a plain HTTPS server with the same certificate and content.
// The answers must match: bytes (after TLS, HTTP status, headers and body),
// and whether and when the connection is closed.

const (
	probeWindow    = 3 * time.Second        // how long a probe waits for answers and a close
	closeTolerance = 250 * time.Millisecond // close times may differ by this much
)

// observation is what a prober sees from one raw probe.
type observation struct {
	resp     []byte        // every byte received within the window
	closed   bool          // EOF or reset within the window
	closedAt time.Duration // since the probe was sent
}

func (o observation) String() string {
	state := "open at " + probeWindow.String()
	if o.closed {
		state = fmt.Sprintf("closed after %v", o.closedAt.Round(10*time.Millisecond))
	}
	return fmt.Sprintf("%d bytes, %s", len(o.resp), state)
}

// rawProbe sends payload on a fresh TCP connection and watches the answer.
func rawProbe(addr string, payload []byte) (observation, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return observation{}, err
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write(payload); err != nil {
		return observation{}, err
	}
	c.SetReadDeadline(start.Add(probeWindow))
	var o observation
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		o.resp = append(o.resp, buf[:n]...)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				o.closed, o.closedAt = true, time.Since(start)
			}
			return o, nil
		}
	}
}

// tlsRecords returns the (type, length) of each TLS record in b.
func tlsRecords(b []byte) [][2]int {
	var out [][2]int
	for len(b) >= 5 {
		n := int(b[3])<<8 | int(b[4])
		out = append(out, [2]int{int(b[0]), n})
		if len(b) < 5+n {
			break
		}
		b = b[5+n:]
	}
	return out
}

// sameTLSShape compares two TLS server flights: the same record types, and
// lengths that differ only by what varies between handshakes (an ECDSA
// signature's DER length, a few bytes).
func sameTLSShape(a, b []byte) bool {
	ra, rb := tlsRecords(a), tlsRecords(b)
	if len(ra) != len(rb) || len(ra) == 0 {
		return len(a) == 0 && len(b) == 0
	}
	for i := range ra {
		d := ra[i][1] - rb[i][1]
		if ra[i][0] != rb[i][0] || d < -8 || d > 8 {
			return false
		}
	}
	return true
}

func sameClose(a, b observation) bool {
	if a.closed != b.closed {
		return false
	}
	d := a.closedAt - b.closedAt
	return !a.closed || (d > -closeTolerance && d < closeTolerance)
}

// httpObservation is what a prober that completes TLS sees.
type httpObservation struct {
	status  string
	header  http.Header // without Date
	body    []byte
	keptFor bool // the connection was still open 300 ms after the answer
}

func httpsProbe(addr string, req string) (httpObservation, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}, ServerName: "cover.test"})
	if err != nil {
		return httpObservation{}, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		return httpObservation{}, err
	}
	c.SetReadDeadline(time.Now().Add(probeWindow))
	br := bufio.NewReader(c)
	method, _, _ := strings.Cut(req, " ")
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return httpObservation{}, err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpObservation{}, err
	}
	o := httpObservation{status: resp.Status, header: resp.Header.Clone(), body: body}
	o.header.Del("Date")
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	o.keptFor = errors.Is(err, os.ErrDeadlineExceeded)
	return o, nil
}

func (o httpObservation) equal(p httpObservation) bool {
	return o.status == p.status && bytes.Equal(o.body, p.body) && o.keptFor == p.keptFor &&
		fmt.Sprint(o.header) == fmt.Sprint(p.header)
}

func (o httpObservation) String() string {
	kept := "closed"
	if o.keptFor {
		kept = "kept alive"
	}
	return fmt.Sprintf("%s, %d headers, %d-byte body, %s", o.status, len(o.header), len(o.body), kept)
}

// coverSite writes a small website and returns its directory.
func coverSite(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"index.html": "<!doctype html><title>Kitchen notes</title><link rel=stylesheet href=/style.css><h1>Recipes</h1>\n",
		"style.css":  "body{font-family:serif;max-width:40em;margin:auto}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// plainHTTPS serves handler over HTTPS the way a Go website does, with the
// relay's certificate and the same server settings as tlsws's (HTTP/1.1,
// header timeout, idle timeout).
func plainHTTPS(t *testing.T, cert tls.Certificate, handler http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	srv.SetKeepAlivesEnabled(true)
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// clientFirstFlight records the first packet a real tlsws client sends.
func clientFirstFlight(t *testing.T, secret []byte) []byte {
	b := transporttest.FirstFlight(t, func(addr string) transport.Dialer {
		d, err := tlsws.NewDialer(tlsws.DialConfig{Addr: addr, Host: "cover.test", Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
	if len(b) < 100 || b[0] != 0x16 {
		t.Fatalf("did not capture a ClientHello (%d bytes)", len(b))
	}
	return b
}

type probe struct {
	name string
	raw  []byte // raw bytes; or
	req  string // an HTTPS request
	tls  bool   // raw probe whose answer is a TLS flight (compare its shape)
}

func probes(hello []byte) []probe {
	var ps []probe
	rng := rand.New(rand.NewChaCha8([32]byte{'s', 'a', 'm', 'i', 'z', 'd', 'a', 't'}))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for _, n := range []int{8, 12, 16, 22, 33, 41, 49} {
		for _, m := range []int{n - 1, n, n + 1} {
			ps = append(ps, probe{name: fmt.Sprintf("random %d bytes", m), raw: random(m)})
		}
	}
	ps = append(ps, probe{name: "random 221 bytes", raw: random(221)})
	ps = append(ps, probe{name: "replay: identical ClientHello", raw: hello, tls: true})
	for _, off := range []int{11, 50, len(hello) / 2, len(hello) - 1} {
		b := slices.Clone(hello)
		b[off] ^= 0x5a
		ps = append(ps, probe{name: fmt.Sprintf("replay: byte %d changed", off), raw: b, tls: true})
	}
	ps = append(ps, probe{name: "replay: first 64 bytes only", raw: hello[:64]})
	for _, r := range []struct{ name, req string }{
		{"GET /", "GET / HTTP/1.1\r\nHost: cover.test\r\nUser-Agent: Mozilla/5.0\r\n\r\n"},
		{"GET /index.html", "GET /index.html HTTP/1.1\r\nHost: cover.test\r\n\r\n"},
		{"GET /style.css", "GET /style.css HTTP/1.1\r\nHost: cover.test\r\n\r\n"},
		{"GET random path", "GET /" + fmt.Sprintf("%x", random(11)) + " HTTP/1.1\r\nHost: cover.test\r\n\r\n"},
		{"HEAD /", "HEAD / HTTP/1.1\r\nHost: cover.test\r\n\r\n"},
		{"POST /", "POST / HTTP/1.1\r\nHost: cover.test\r\nContent-Length: 3\r\n\r\nabc"},
		{"WebSocket upgrade, wrong path", "GET /chat HTTP/1.1\r\nHost: cover.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"WebSocket upgrade, secret-length path", "GET /" + strings.Repeat("A", 22) + " HTTP/1.1\r\nHost: cover.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"HTTP/1.0 GET /", "GET / HTTP/1.0\r\n\r\n"},
	} {
		ps = append(ps, probe{name: "HTTPS " + r.name, req: r.req})
	}
	return ps
}

// probeSetup is what every probe test starts from: a cover site's folder,
// the cover.test certificate and the relay's secret. Probe windows take
// seconds, so -short skips these tests.
func probeSetup(t *testing.T) (dir string, cert tls.Certificate, secret []byte) {
	t.Helper()
	if testing.Short() {
		t.Skip("probe windows take seconds")
	}
	cert, err := tlsws.SelfSigned("cover.test")
	if err != nil {
		t.Fatal(err)
	}
	return coverSite(t), cert, []byte("probe-test-secret-0123456789")
}

// TestProbes runs every probe against a tlsws relay and the plain cover
// server, for both kinds of cover (static files and a reverse proxy to an
// origin), and prints the table (go test -v -run TestProbes ./relay).
func TestProbes(t *testing.T) {
	dir, cert, secret := probeSetup(t)
	hello := clientFirstFlight(t, secret)
	origin := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(origin.Close)
	originURL, _ := url.Parse(origin.URL)

	up := echoServer(t)
	for _, cover := range []struct {
		name    string
		handler http.Handler
	}{
		{"cover-dir", tlsws.CoverDir(dir)},
		{"cover-proxy", tlsws.CoverProxy(originURL)},
	} {
		t.Run(cover.name, func(t *testing.T) {
			ln, err := tlsws.Listen(tlsws.ListenConfig{Addr: "127.0.0.1:0", Secret: secret, Cover: cover.handler, Certificate: &cert})
			if err != nil {
				t.Fatal(err)
			}
			startRelay(t, Config{Upstream: direct.NewDialer(up)}, "tlsws", ln)
			relayAddr := ln.Addr().String()
			plainAddr := plainHTTPS(t, cert, http.FileServer(http.Dir(dir)))
			runProbes(t, probes(hello), relayAddr, plainAddr)
		})
	}
}

func runProbes(t *testing.T, ps []probe, relayAddr, plainAddr string) {
	rows := make([]string, len(ps))
	var wg sync.WaitGroup
	var mu sync.Mutex // guards failures
	var failures []string
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rel, pla fmt.Stringer
			var match bool
			var err1, err2 error
			if p.req != "" {
				var a, b httpObservation
				var w sync.WaitGroup
				w.Add(1)
				go func() { defer w.Done(); a, err1 = httpsProbe(relayAddr, p.req) }()
				b, err2 = httpsProbe(plainAddr, p.req)
				w.Wait()
				rel, pla, match = a, b, a.equal(b)
				if !match {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s:\n relay %v %v\n cover %v %v", p.name, a.header, a.body, b.header, b.body))
					mu.Unlock()
				}
			} else {
				var a, b observation
				// A difference in close time alone is probed again (up to
				// three times in all): a busy test machine can delay one
				// side's close by more than the tolerance, while a relay
				// that really closes at another time differs every time.
				for attempt := 0; attempt < 3; attempt++ {
					var w sync.WaitGroup
					w.Add(1)
					go func() { defer w.Done(); a, err1 = rawProbe(relayAddr, p.raw) }()
					b, err2 = rawProbe(plainAddr, p.raw)
					w.Wait()
					same := bytes.Equal(a.resp, b.resp)
					if p.tls {
						same = sameTLSShape(a.resp, b.resp)
					}
					rel, pla, match = a, b, same && sameClose(a, b)
					if match || !same || a.closed != b.closed || err1 != nil || err2 != nil {
						break
					}
				}
			}
			if err1 != nil || err2 != nil {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: relay error %v, cover error %v", p.name, err1, err2))
				mu.Unlock()
				return
			}
			verdict := "same"
			if !match {
				verdict = "DIFFERENT"
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s: relay %v % x; cover %v % x", p.name, rel, head(p.raw), pla, head(p.raw)))
				mu.Unlock()
			}
			rows[i] = fmt.Sprintf("| %s | %v | %v | %s |", p.name, rel, pla, verdict)
		}()
	}
	wg.Wait()
	t.Logf("\n| probe | relay | plain cover server | verdict |\n|---|---|---|---|\n%s", strings.Join(rows, "\n"))
	for _, f := range failures {
		t.Errorf("probe answered differently: %s", f)
	}
}

func head(b []byte) []byte { return b[:min(len(b), 8)] }
