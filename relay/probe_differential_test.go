package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// The probe differential (issue 12): a censor's analyst sends the same
// probes to a suspected relay and to a plain nginx serving the same site,
// and looks for any difference in the answers (bytes, or for TLS flights
// their record shape), in whether the connection closes, and in when
// (within 10%). Each supported deployment of docs/operator-guide.md must
// answer every probe as the plain nginx does.

// diffProbe is one probe: raw bytes on a fresh TCP connection, or a TLS
// handshake with an ALPN list followed by raw bytes inside TLS.
type diffProbe struct {
	name string
	raw  []byte   // sent on TCP (when !overTLS)
	alpn []string // overTLS: offered ALPN
	req  []byte   // overTLS: sent after the handshake (nil: silence)

	overTLS bool
}

// diffObservation is what the prober saw.
type diffObservation struct {
	negotiated string // overTLS: version, cipher suite and ALPN the server chose
	resp       []byte // everything received within the window (inside TLS for overTLS), Date lines blanked
	closed     bool
	closedAt   time.Duration
	err        error // the TLS handshake failed (its text is the observation)
}

func (o diffObservation) String() string {
	state := "open at " + probeWindow.String()
	if o.closed {
		state = fmt.Sprintf("closed after %v", o.closedAt.Round(10*time.Millisecond))
	}
	head := o.resp[:min(len(o.resp), 40)]
	return fmt.Sprintf("%s %d bytes %q..., %s, err=%v", o.negotiated, len(o.resp), head, state, o.err)
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`)

func runDiffProbe(addr string, p diffProbe) diffObservation {
	var o diffObservation
	c, err := net.Dial("tcp", addr)
	if err != nil {
		o.err = err
		return o
	}
	defer c.Close()
	start := time.Now()
	var conn net.Conn = c
	if p.overTLS {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "cover.test", NextProtos: p.alpn})
		tc.SetDeadline(start.Add(probeWindow))
		if err := tc.Handshake(); err != nil {
			o.err = errors.New(strings.TrimPrefix(err.Error(), "remote error: "))
			return o
		}
		st := tc.ConnectionState()
		o.negotiated = fmt.Sprintf("%s %s alpn=%q", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.NegotiatedProtocol)
		conn = tc
		start = time.Now()
		if len(p.req) > 0 {
			tc.Write(p.req)
		}
	} else if len(p.raw) > 0 {
		c.Write(p.raw)
	}
	conn.SetReadDeadline(start.Add(probeWindow))
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		o.resp = append(o.resp, buf[:n]...)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				o.closed, o.closedAt = true, time.Since(start)
			}
			break
		}
	}
	o.resp = dateLine.ReplaceAll(o.resp, []byte("Date: -\r\n"))
	return o
}

// sameAnswer: same bytes (TLS server flights: same record shape), same
// negotiation, same close, close times within 10% (at least 100 ms apart
// allowed: a loaded 2-core machine schedules that coarsely).
func sameAnswer(p diffProbe, a, b diffObservation) bool {
	if a.negotiated != b.negotiated || fmt.Sprint(a.err) != fmt.Sprint(b.err) || a.closed != b.closed {
		return false
	}
	if !p.overTLS && len(a.resp) > 0 && a.resp[0] == 0x16 {
		if !sameTLSShape(a.resp, b.resp) {
			return false
		}
	} else if !bytes.Equal(a.resp, b.resp) {
		return false
	}
	if !a.closed {
		return true
	}
	d := (a.closedAt - b.closedAt).Abs()
	return d <= max(100*time.Millisecond, max(a.closedAt, b.closedAt)/10)
}

// diffProbes is the probe set of issue 12. replay is a real client's
// stream (ClientHello and what followed), recorded on the wire.
func diffProbes(replay []byte) []diffProbe {
	var ps []diffProbe
	rng := rand.New(rand.NewChaCha8([32]byte{'p', 'r', 'o', 'b', 'e'}))
	random := func(n int, first byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[0] = first
		return b
	}
	// First bytes across the whole range: TLS handshake (0x16) and alert
	// (0x15), ASCII letters (an HTTP method's start), control bytes, high bytes.
	firsts := []byte{0x00, 0x05, 0x15, 0x16, 0x47, 0x50, 0x7f, 0x80, 0xc3, 0xff}
	i := 0
	for _, n := range []int{8, 12, 16, 22, 33, 41, 48, 49, 50, 221} {
		for k := 0; k < 3; k++ {
			f := firsts[i%len(firsts)]
			i++
			ps = append(ps, diffProbe{name: fmt.Sprintf("random %d bytes, first %#02x", n, f), raw: random(n, f)})
		}
	}
	ps = append(ps,
		diffProbe{name: "silence"},
		diffProbe{name: "plain HTTP GET /", raw: []byte("GET / HTTP/1.1\r\nHost: cover.test\r\n\r\n")},
		diffProbe{name: "replayed client records", raw: replay},
		diffProbe{name: "replayed ClientHello, one byte changed", raw: flip(replay, 60)},
	)
	get := []byte("GET / HTTP/1.1\r\nHost: cover.test\r\nUser-Agent: Mozilla/5.0\r\n\r\n")
	h2 := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0) // preface, empty SETTINGS
	for _, t := range []struct {
		name string
		alpn []string
		req  []byte
	}{
		{"TLS ALPN h2, HTTP/2 preface", []string{"h2"}, h2},
		{"TLS ALPN http/1.1, GET /", []string{"http/1.1"}, get},
		{"TLS no ALPN, GET /", nil, get},
		{"TLS no ALPN, silence", nil, nil},
		{"TLS GET /style.css", []string{"http/1.1"}, []byte("GET /style.css HTTP/1.1\r\nHost: cover.test\r\n\r\n")},
		{"TLS GET missing file", []string{"http/1.1"}, []byte("GET /no-such-thing HTTP/1.1\r\nHost: cover.test\r\n\r\n")},
		{"TLS OPTIONS *", []string{"http/1.1"}, []byte("OPTIONS * HTTP/1.1\r\nHost: cover.test\r\n\r\n")},
		{"TLS HEAD /", []string{"http/1.1"}, []byte("HEAD / HTTP/1.1\r\nHost: cover.test\r\n\r\n")},
		{"TLS POST /", []string{"http/1.1"}, []byte("POST / HTTP/1.1\r\nHost: cover.test\r\nContent-Length: 3\r\n\r\nabc")},
		{"TLS no Host", []string{"http/1.1"}, []byte("GET / HTTP/1.1\r\n\r\n")},
		{"TLS HTTP/9.9", []string{"http/1.1"}, []byte("GET / HTTP/9.9\r\nHost: cover.test\r\n\r\n")},
		{"TLS bad header line", []string{"http/1.1"}, []byte("GET / HTTP/1.1\r\nHost: cover.test\r\nno colon here\r\n\r\n")},
		{"TLS unknown method", []string{"http/1.1"}, []byte("BREW / HTTP/1.1\r\nHost: cover.test\r\n\r\n")},
		{"TLS garbage", []string{"http/1.1"}, random(64, 0x9c)},
		{"TLS oversized header", []string{"http/1.1"}, []byte("GET / HTTP/1.1\r\nHost: cover.test\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n")},
		{"TLS oversized URI", []string{"http/1.1"}, []byte("GET /" + strings.Repeat("b", 16<<10) + " HTTP/1.1\r\nHost: cover.test\r\n\r\n")},
		{"TLS WebSocket upgrade, wrong path", []string{"http/1.1"}, []byte("GET /chat HTTP/1.1\r\nHost: cover.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")},
	} {
		ps = append(ps, diffProbe{name: t.name, alpn: t.alpn, req: t.req, overTLS: true})
	}
	return ps
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	if i < len(c) {
		c[i] ^= 0x5a
	}
	return c
}

// probeDifferential sends every probe to target and to plain at once and
// fails the test on any difference. A difference only in close time is
// probed again (three times in all): a busy machine can delay one close,
// a real difference repeats.
func probeDifferential(t *testing.T, ps []diffProbe, target, plain string) (differing int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	rows := make([]string, len(ps))
	sem := make(chan struct{}, 8) // fewer at once: a loaded 2-core machine otherwise delays the extra hop by 100s of ms
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var a, b diffObservation
			for attempt := 0; attempt < 3; attempt++ {
				var w sync.WaitGroup
				w.Add(1)
				go func() { defer w.Done(); a = runDiffProbe(target, p) }()
				b = runDiffProbe(plain, p)
				w.Wait()
				if sameAnswer(p, a, b) {
					break
				}
			}
			verdict := "same"
			if !sameAnswer(p, a, b) {
				verdict = "DIFFERENT"
				mu.Lock()
				differing++
				mu.Unlock()
			}
			rows[i] = fmt.Sprintf("| %s | %v | %v | %s |", p.name, a, b, verdict)
		}()
	}
	wg.Wait()
	t.Logf("\n| probe | deployment | plain nginx | verdict |\n|---|---|---|---|\n%s", strings.Join(rows, "\n"))
	return differing
}

// recordClient runs one real tunnel through a tap to addr and returns what
// the client sent (ClientHello, the rest of its handshake, its HTTP upgrade
// and tunnel data): the records a censor on the path can replay.
func recordClient(t *testing.T, addr string, cfg tlsws.DialConfig) (client, serverHello []byte) {
	tap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	var rec bytes.Buffer
	var recMu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := tap.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		go func() {
			hdr := make([]byte, 5)
			if _, err := io.ReadFull(up, hdr); err != nil {
				return
			}
			body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
			io.ReadFull(up, body)
			recMu.Lock()
			serverHello = append(hdr, body...)
			recMu.Unlock()
			c.Write(serverHello)
			io.Copy(c, up)
		}()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			recMu.Lock()
			rec.Write(buf[:n])
			recMu.Unlock()
			if _, werr := up.Write(buf[:n]); err != nil || werr != nil {
				return
			}
		}
	}()
	cfg.Addr = tap.Addr().String()
	d, err := tlsws.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		t.Fatalf("dialing a tunnel through %s: %v", addr, err)
	}
	roundTrip(t, c, 1000)
	c.Close()
	<-done
	recMu.Lock()
	defer recMu.Unlock()
	return bytes.Clone(rec.Bytes()), serverHello
}

// TestAdversaryProbeDifferentialGoWebsite: the test-only mode in which
// tlsws's own Go HTTP server answers probes (ListenConfig.Cover) is told
// apart from nginx. The test asserts that it is, which is why that mode is
// for tests only.
func TestAdversaryProbeDifferentialGoWebsite(t *testing.T) {
	dir, cert, secret := probeSetup(t)
	site := startNginx(t, dir, cert, tlsws.SecretPath(secret), freeAddr(t))
	ln, err := tlsws.Listen(tlsws.ListenConfig{Addr: "127.0.0.1:0", Secret: secret, Cover: tlsws.CoverDir(dir), Certificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	startRelay(t, Config{Upstream: direct.NewDialer(echoServer(t))}, "tlsws", ln)
	replay, _ := recordClient(t, ln.Addr().String(), tlsws.DialConfig{Host: "cover.test", Secret: secret, Pin: tlsws.PinOf(cert.Leaf)})
	if n := probeDifferential(t, diffProbes(replay), ln.Addr().String(), site.plain); n == 0 {
		t.Fatal("Go's HTTP server answered every probe as nginx does; the test cannot tell them apart")
	} else {
		t.Logf("%d probes tell Go's website from nginx", n)
	}
}

// TestAdversaryProbeDifferential runs the relay in both supported
// deployments of docs/operator-guide.md beside a plain nginx serving the
// same site, checks that a real client gets its tunnel in each, and
// requires every probe, a replay of that client's records included, to be
// answered as the plain nginx answers it.
func TestAdversaryProbeDifferential(t *testing.T) {
	dir, cert, secret := probeSetup(t)
	up := direct.NewDialer(echoServer(t))

	// Deployment 1: behind nginx. The relay listens on loopback, plain HTTP.
	behind, err := tlsws.ListenBehind(tlsws.BehindConfig{Addr: "127.0.0.1:0", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	startRelay(t, Config{Upstream: up}, "tlsws", behind)
	site := startNginx(t, dir, cert, tlsws.SecretPath(secret), behind.Addr().String())

	// Deployment 2: standalone in front of the same nginx (its plain site).
	relayCert, err := tlsws.SelfSigned("cover.test")
	if err != nil {
		t.Fatal(err)
	}
	alone, err := tlsws.ListenStandalone(tlsws.StandaloneConfig{Addr: "127.0.0.1:0", Secret: secret, CoverAddr: site.plain, Certificate: &relayCert})
	if err != nil {
		t.Fatal(err)
	}
	startRelay(t, Config{Upstream: up}, "tlsws", alone)

	for _, d := range []struct {
		name, addr string
		cfg        tlsws.DialConfig
	}{
		{"behind-nginx", site.fronted, tlsws.DialConfig{Host: "cover.test", Secret: secret, Pin: tlsws.PinOf(cert.Leaf), WebSocketALPN: true}},
		{"standalone", alone.Addr().String(), tlsws.DialConfig{Host: "cover.test", Secret: secret, Pin: tlsws.PinOf(relayCert.Leaf)}},
	} {
		t.Run(d.name, func(t *testing.T) {
			replay, serverHello := recordClient(t, d.addr, d.cfg)
			// Passively: the relay's ServerHello to a real client has the
			// size of the cover's to the same kind of hello (a modified
			// copy, which the cover answers).
			coverHello := runDiffProbe(site.plain, diffProbe{raw: flip(replay, 60)}).resp
			if r := tlsRecords(coverHello); len(r) == 0 || len(serverHello) != 5+r[0][1] {
				t.Errorf("the ServerHello a client gets is %d bytes, the cover's %v", len(serverHello), r)
			}
			if n := probeDifferential(t, diffProbes(replay), d.addr, site.plain); n > 0 {
				t.Errorf("%d probes tell the %s relay from nginx", n, d.name)
			}
		})
	}
}
