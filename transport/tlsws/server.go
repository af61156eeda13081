package tlsws

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/internal/rawio"
	"github.com/samizdat-project/samizdat/transport"
)

// ListenConfig says how to run a tlsws server.
type ListenConfig struct {
	Addr   string       // host:port to listen on; port 0 picks one
	Secret []byte       // path secret, at least MinSecretLen bytes
	Cover  http.Handler // the website everyone without the secret gets (CoverDir, CoverProxy)

	// Exactly one of Certificate (self-signed or static) and Autocert (ACME,
	// production) is set.
	Certificate *tls.Certificate
	Autocert    CertSource

	// Shape is the opening profile tunnels replay (nil: the built-in one).
	Shape *ShapeProfile
}

// CertSource hands out certificates during handshakes. An
// *autocert.Manager (golang.org/x/crypto/acme/autocert) is one: build it with
// HostPolicy: autocert.HostWhitelist(domain), Cache: autocert.DirCache(dir),
// Prompt: autocert.AcceptTOS. This package does not import autocert itself,
// because autocert pulls in golang.org/x/net, which go.mod does not carry yet.
type CertSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// acmeTLSALPN is ACME's TLS-ALPN-01 protocol name (RFC 8737), offered with
// http/1.1 when Autocert is set so that the challenge works on port 443.
const acmeTLSALPN = "acme-tls/1"

// Listener is a tlsws server: an HTTPS website whose secret path upgrades to
// tunnels, which Accept returns.
type Listener struct {
	ln         net.Listener // the TCP listener clients reach
	front      io.Closer    // standalone: the sorter in front of srv
	srv        *http.Server
	cover      http.Handler
	secretPath []byte
	shape      shapeTraceSet // the opening profile the tunnels replay

	conns     chan net.Conn
	closeOnce sync.Once
	closed    chan struct{} // closed by Close
	served    chan struct{} // closed when srv.Serve returns
}

var _ transport.Listener = (*Listener)(nil)

// acceptWait bounds how long an upgraded tunnel waits for Accept.
const acceptWait = 30 * time.Second

// Listen starts the test-only website mode: tlsws's own Go HTTP server
// owns TLS and answers every request that is not a tunnel with cfg.Cover.
// Probes tell Go's server from nginx in dozens of ways
// (TestAdversaryProbeDifferentialGoWebsite), so this mode is for tests and
// the lab only; relays in production run ListenBehind (behind nginx or
// Caddy) or ListenStandalone (docs/operator-guide.md).
func Listen(cfg ListenConfig) (*Listener, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("tlsws: path secret is %d bytes, at least %d needed", len(cfg.Secret), MinSecretLen)
	}
	if cfg.Cover == nil {
		return nil, errors.New("tlsws: no cover site: set ListenConfig.Cover (CoverDir or CoverProxy)")
	}
	tcfg, err := serverTLSConfig(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("tlsws: listening: %w", err)
	}
	l := newListener(ln, cfg.Secret, cfg.Cover)
	l.shape = cfg.Shape.set()
	l.srv.TLSConfig = tcfg
	l.serve(func() { l.srv.ServeTLS(corkListener{ln}, "", "") })
	return l, nil
}

// newListener builds a Listener whose HTTP server upgrades the secret path
// and hands everything else to cover; serve starts it.
func newListener(ln net.Listener, secret []byte, cover http.Handler) *Listener {
	l := &Listener{
		ln:         ln,
		cover:      cover,
		secretPath: []byte(SecretPath(secret)),
		shape:      shapeTraces,
		conns:      make(chan net.Conn),
		closed:     make(chan struct{}),
		served:     make(chan struct{}),
	}
	l.srv = &http.Server{
		Handler: l,
		// A non-nil empty map turns HTTP/2 off: the upgrade needs HTTP/1.1.
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0), // probes and scanners are not news
	}
	return l
}

func (l *Listener) serve(run func()) {
	go func() {
		defer close(l.served)
		run()
	}()
}

// notFound answers whatever reaches the relay's own HTTP server and is not
// a tunnel: behind a web server, only requests the web server forwarded on
// the secret path; standalone, only clients that carried a valid mark.
var notFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })

// BehindConfig says how to run tlsws as the backend of a real web server
// (deployment 1 of docs/operator-guide.md): nginx or Caddy owns port 443,
// TLS, certificates and the website, and proxies WebSocket upgrades on the
// secret path to this plain-HTTP listener on loopback.
type BehindConfig struct {
	Addr   string        // host:port on loopback, e.g. 127.0.0.1:8081, or unix:/path of a unix socket
	Secret []byte        // path secret, at least MinSecretLen bytes
	Shape  *ShapeProfile // the opening profile (nil: the built-in one)
}

// ListenBehind starts the backend listener. Probes never reach it: the web
// server answers them.
func ListenBehind(cfg BehindConfig) (*Listener, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("tlsws: path secret is %d bytes, at least %d needed", len(cfg.Secret), MinSecretLen)
	}
	ln, err := listenBehind(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("tlsws: listening: %w", err)
	}
	l := newListener(ln, cfg.Secret, notFound)
	l.shape = cfg.Shape.set()
	l.serve(func() { l.srv.Serve(ln) })
	return l, nil
}

// listenBehind listens on addr: host:port, or unix:/path for a unix
// socket. A unix socket saves the web server's hop the loopback TCP stack
// (docs/benchmarks.md, "Relay round trips behind nginx, session 8"). A
// socket file left by an earlier run is replaced; the new one is open to
// every local user, as a loopback port is: the folder it is in decides
// who reaches it (docs/operator-guide.md).
func listenBehind(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSocket != 0 {
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// serverTLSConfig offers only http/1.1 in ALPN (and acme-tls/1 for ACME's
// TLS-ALPN-01 challenge when autocert is on).
func serverTLSConfig(cfg ListenConfig) (*tls.Config, error) {
	switch {
	case cfg.Certificate != nil && cfg.Autocert != nil:
		return nil, errors.New("tlsws: set either Certificate or Autocert, not both")
	case cfg.Certificate != nil:
		return &tls.Config{
			Certificates: []tls.Certificate{*cfg.Certificate},
			NextProtos:   []string{"http/1.1"},
			MinVersion:   tls.VersionTLS12,
			// The opening's replay sets record sizes (shape.go).
			DynamicRecordSizingDisabled: true,
		}, nil
	case cfg.Autocert != nil:
		return &tls.Config{
			GetCertificate:              cfg.Autocert.GetCertificate,
			NextProtos:                  []string{"http/1.1", acmeTLSALPN},
			MinVersion:                  tls.VersionTLS12,
			DynamicRecordSizingDisabled: true,
		}, nil
	}
	return nil, errors.New("tlsws: no certificate: set Certificate (SelfSigned) or Autocert (an *autocert.Manager)")
}

// ServeHTTP upgrades a WebSocket request on the secret path and hands every
// other request to the cover site. The path is compared in constant time.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.isTunnelRequest(r) {
		l.cover.ServeHTTP(w, r)
		return
	}
	c, err := acceptWebSocket(w, r, l.shape)
	if err != nil {
		return
	}
	t := time.NewTimer(acceptWait)
	defer t.Stop()
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	case <-t.C:
		c.Close()
	}
}

// isTunnelRequest: a GET WebSocket upgrade (RFC 6455 §4.2.1) on the secret
// path. A malformed upgrade there gets the cover too.
func (l *Listener) isTunnelRequest(r *http.Request) bool {
	pathOK := subtle.ConstantTimeCompare([]byte(r.URL.Path), l.secretPath) == 1
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	return pathOK && r.Method == http.MethodGet &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		r.Header.Get("Sec-WebSocket-Version") == "13" &&
		err == nil && len(key) == 16
}

// acceptWebSocket answers the upgrade with 101 (RFC 6455 §4.2.2), no
// extension and no subprotocol, and takes the TLS conn over.
func acceptWebSocket(w http.ResponseWriter, r *http.Request, shape shapeTraceSet) (*wsConn, error) {
	start := time.Now()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "", http.StatusInternalServerError)
		return nil, errors.New("tlsws: the HTTP server cannot hand the conn over")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	if _, ok := conn.(*tls.Conn); !ok {
		// Behind a web server: plain HTTP on loopback, read and written
		// with raw system calls (internal/rawio), as the relay's upstream
		// conn is.
		conn = rawio.Wrap(conn)
	}
	// Behind a web server the conn is plain HTTP from the web server;
	// otherwise it is ours, in TLS.
	var tc, raw net.Conn = conn, conn
	if t, ok := conn.(*tls.Conn); ok {
		raw = t.NetConn()
	}
	// The answer goes out in the server's records of the trace the tunnel
	// replays (shape.go); a standalone relay picked it from the TLS
	// exporter value and sent its records before the request already.
	key := r.Header.Get("Sec-WebSocket-Key")
	trace := shape.traceFor(key)
	cork, _ := raw.(*corkConn)
	if t, ok := conn.(*tls.Conn); ok && cork != nil && cork.opening != nil {
		<-cork.opening
		cs := t.ConnectionState()
		if i := shape.exporterTraceIndex(cs.ExportKeyingMaterial); i >= 0 && trace != nil {
			trace = shape[i]
		}
	}
	request, _, plan := splitTrace(trace)
	if cork != nil && cork.opening != nil {
		plan = plan[min(len(serverPreface(trace)), len(plan)):]
	}
	answer := upgradeAnswer(key, plan)
	if len(plan) == 0 {
		brw.WriteString(answer)
	}
	if err := brw.Flush(); err != nil {
		conn.Close()
		return nil, err
	}
	// The client may have sent frames right after its request.
	var src io.Reader = tc
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), tc)
	}
	c := newWSConn(tc, raw, src, false)
	if cork != nil {
		if peer, ok := cork.Conn.(*recordCounter); ok { // standalone (serveMarked)
			c.shape.requestRecords = len(request)
			c.shape.watch(peer)
		}
	}
	if len(plan) > 0 {
		c.shape.raw = []byte(answer)
		c.startShaping(plan, start)
	}
	return c, nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Accept returns the next tunnel.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, errClosed("accepting")
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, errClosed("accepting")
	}
}

// Close stops the website and the listener; tunnels already accepted stay.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.srv.Close()
		if l.front != nil {
			l.front.Close()
		}
		<-l.served
	})
	return nil
}

// Addr returns the TCP address the website listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }
