package tlsws

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	utls "github.com/refraction-networking/utls"

	"github.com/samizdat-project/samizdat/transport"
)

// chromeUserAgent matches the captured hello (chrome_hello.go); the CDN or relay sees it, a censor
// does not (it travels inside TLS).
const chromeUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

// Dialer opens tlsws tunnels to one endpoint.
type Dialer struct {
	cfg     DialConfig
	path    string
	markKey []byte
	nd      net.Dialer
	shape   shapeTraceSet // the opening profile (cfg.Shape or the built-in one)

	// DialContext, when set, opens the TCP connection instead of a
	// net.Dialer (e.g. reach.ProxyFromURL's, to go out through the user's
	// proxy). Set it before the first Dial.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ transport.Dialer = (*Dialer)(nil)

// NewDialer checks cfg and returns a Dialer.
func NewDialer(cfg DialConfig) (*Dialer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &Dialer{cfg: cfg, path: SecretPath(cfg.Secret), markKey: markKey(cfg.Secret), nd: net.Dialer{KeepAlive: 30 * time.Second}, shape: cfg.Shape.set()}, nil
}

// DialerFromSpec builds a Dialer from a "tlsws" Spec.
func DialerFromSpec(s transport.Spec) (*Dialer, error) {
	cfg, err := ConfigFromSpec(s)
	if err != nil {
		return nil, err
	}
	return NewDialer(cfg)
}

// errH2 says the server (a CDN) chose HTTP/2, on which an HTTP/1.1 upgrade
// cannot run.
var errH2 = errors.New("tlsws: server negotiated h2")

// Dial connects, completes TLS and the WebSocket upgrade, and returns the
// tunnel. If the server picks h2, it retries once offering only http/1.1.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	c, err := d.dial(ctx, d.cfg.WebSocketALPN)
	if errors.Is(err, errH2) {
		c, err = d.dial(ctx, true)
	}
	return c, err
}

func (d *Dialer) dial(ctx context.Context, wsALPN bool) (net.Conn, error) {
	dialTCP := d.nd.DialContext
	if d.DialContext != nil {
		dialTCP = d.DialContext
	}
	conn, err := dialTCP(ctx, "tcp", d.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("tlsws: dialing: %w", err)
	}
	peer := &recordCounter{Conn: conn}
	tcp := &corkConn{Conn: peer}
	tc, err := d.handshake(ctx, tcp, wsALPN, ticketWatch{peer})
	if err != nil {
		tcp.Close()
		return nil, err
	}
	if proto := tc.ConnectionState().NegotiatedProtocol; proto == "h2" {
		tc.Close()
		return nil, errH2
	}
	// The conn exists before the upgrade so that its replay of the trace
	// runs while the answer is awaited (a browser's records do not wait
	// for the page either); it reads what follows the 101 from br.
	br := bufio.NewReaderSize(tc, readBufSize)
	c := newWSConn(tc, tcp, br, true)
	if !d.cfg.NoPreamble {
		c.shape.watch(peer)
	}
	if err := d.upgrade(ctx, c, br, !wsALPN); err != nil {
		c.abandon()
		return nil, err
	}
	return c, nil
}

// ClientHelloSpec returns a fresh ClientHello spec (keys, GREASE and
// extension order drawn anew, as Chrome does) from the captured Chromium
// hellos (chrome_hello.go): the WebSocket connection's hello (ALPN
// http/1.1 only, no ALPS) when wsALPN is set, else the page load's.
func ClientHelloSpec(wsALPN bool) (utls.ClientHelloSpec, error) {
	page, ws, err := chromeHellos()
	if err != nil {
		return utls.ClientHelloSpec{}, err
	}
	if wsALPN {
		return specFromHello(ws)
	}
	return specFromHello(page)
}

func (d *Dialer) handshake(ctx context.Context, tcp net.Conn, wsALPN bool, tickets utls.ClientSessionCache) (*utls.UConn, error) {
	cfg := &utls.Config{
		ClientSessionCache: tickets,
		ServerName:         d.cfg.serverName(),
		RootCAs:            d.cfg.RootCAs,
		// The opening's replay sets record sizes (shape.go).
		DynamicRecordSizingDisabled: true,
	}
	if d.cfg.Pin != "" {
		cfg.InsecureSkipVerify = true // replaced by the pin check below
		cfg.VerifyPeerCertificate = d.verifyPin
	}
	// Chromium takes a while to check the certificate before its Finished
	// (tens to hundreds of milliseconds, which a censor sees as the gap
	// before the client's first encrypted record); the dialer takes one
	// of the recorded times (ShapeProfile.verify).
	if wait := d.cfg.Shape.verifyDelay(); wait > 0 {
		cfg.VerifyConnection = func(utls.ConnectionState) error {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	spec, err := ClientHelloSpec(wsALPN)
	if err != nil {
		return nil, err
	}
	tc := utls.UClient(tcp, cfg, utls.HelloCustom)
	if err := tc.ApplyPreset(&spec); err != nil {
		return nil, fmt.Errorf("tlsws: applying the ClientHello: %w", err)
	}
	if err := d.mark(tc); err != nil {
		return nil, err
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tlsws: TLS handshake: %w", err)
	}
	// The hello's renegotiation_info made uTLS allow renegotiation, which
	// hides the exporter (upgrade picks the trace from it); TLS 1.3 has no
	// renegotiation anyway.
	if tc.ConnectionState().Version == utls.VersionTLS13 {
		cfg.Renegotiation = utls.RenegotiateNever
	}
	return tc, nil
}

// mark writes the hello mark (mark.go) into the session_id of the built
// ClientHello. uTLS marshals the hello again at the start of the
// handshake, from the same fields, so the session_id is set in both the
// hello's fields and its bytes.
func (d *Dialer) mark(tc *utls.UConn) error {
	if err := tc.BuildHandshakeState(); err != nil {
		return fmt.Errorf("tlsws: building the ClientHello: %w", err)
	}
	hello := tc.HandshakeState.Hello
	if len(hello.SessionId) != markLen {
		return errNoMarkRoom
	}
	if err := markHello(d.markKey, hello.Raw, time.Now()); err != nil {
		return err
	}
	copy(hello.SessionId, hello.Raw[sessionIDOffset:sessionIDOffset+markLen])
	return nil
}

// verifyPin accepts the chain only if the leaf's SubjectPublicKeyInfo hash
// equals the pin (constant-time).
func (d *Dialer) verifyPin(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	if len(rawCerts) == 0 {
		return errors.New("tlsws: server sent no certificate")
	}
	leaf, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return fmt.Errorf("tlsws: parsing the server certificate: %w", err)
	}
	want, _ := base64.RawURLEncoding.DecodeString(d.cfg.Pin)
	got := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return errors.New("tlsws: server certificate does not match the pin")
	}
	return nil
}

// upgrade speaks HTTP/1.1 over the TLS conn and upgrades to a WebSocket on
// the secret path (RFC 6455 §4.1), with the headers Chrome sends. The
// request goes out in the records the trace this tunnel replays starts
// with (shape.go, requestRecords); the rest of the client's records are
// replayed by c from the moment it went. A preamble the server sent
// before its answer (standalone, shape.go) is skipped. The answer is read
// from br, which c reads from after it.
// upgrade sends the WebSocket request and reads the 101. With shaped, the
// opening replays a Chromium page load (shape.go); a connection whose hello
// is Chrome's WebSocket-only one (http/1.1 ALPN: behind a CDN or web server
// that picks h2) opens as Chrome's WebSocket does, request then 101, with
// no replay: a page load's records would not fit that hello, and a web
// server in front need not pass bytes sent before its 101 (Caddy does not).
func (d *Dialer) upgrade(ctx context.Context, c *wsConn, br *bufio.Reader, shaped bool) error {
	tc := c.tc
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
		defer tc.SetDeadline(time.Time{})
	}
	// The trace comes from the TLS exporter value, as a standalone relay
	// picks it; the key maps to it too, for a relay behind a web server.
	index := -1
	if u, ok := tc.(*utls.UConn); ok {
		cs := u.ConnectionState()
		index = d.shape.exporterTraceIndex(cs.ExportKeyingMaterial)
	}
	key := d.shape.keyForTrace(index)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+d.cfg.Host+d.path, nil)
	if err != nil {
		return fmt.Errorf("tlsws: WebSocket upgrade: %w", err)
	}
	req.Host = d.cfg.Host
	req.Header.Set("User-Agent", chromeUserAgent)
	req.Header.Set("Origin", "https://"+d.cfg.Host)
	// Chrome also sends Cache-Control and Pragma (no-cache): left out, for
	// the request to fit the trace's request records with a cookie.
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	// Chrome offers permessage-deflate on every WebSocket; the server
	// accepts no extension, which RFC 6455 §9.1 allows.
	req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", key)
	var trace []shapeRecord
	if shaped {
		trace = underRecordRule(d.shape.traceFor(key))
	}
	head, plan, later := requestRecords(req, trace)
	// The request records wait for a standalone relay's preamble records
	// the trace shows before them, at most requestLeadMost (a relay behind
	// a web server sends none), as the replay's waits do.
	if len(plan) == 0 {
		if _, err := tc.Write(head); err != nil {
			return fmt.Errorf("tlsws: WebSocket upgrade: %w", err)
		}
	} else {
		c.shape.raw = head
		c.shape.requestRecords = len(plan) - len(later)
		c.shape.setTail(trace)
		c.startShaping(plan, time.Now())
	}
	if err := skipPreamble(br); err != nil {
		return fmt.Errorf("tlsws: WebSocket upgrade: %w", err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fmt.Errorf("tlsws: WebSocket upgrade: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The path or Host is wrong, or a censor's box answered: the
		// server gave us a web page, not a tunnel.
		return fmt.Errorf("tlsws: WebSocket upgrade refused with HTTP %d: check the relay link's host and secret", resp.StatusCode)
	}
	// RFC 6455 §4.1: the answer must upgrade to websocket, prove it read our
	// key, and (we offered none) choose no extension or subprotocol.
	switch {
	case !headerHasToken(resp.Header, "Connection", "upgrade") || !headerHasToken(resp.Header, "Upgrade", "websocket"):
		return errors.New("tlsws: WebSocket upgrade: the answer does not upgrade to websocket")
	case subtle.ConstantTimeCompare([]byte(resp.Header.Get("Sec-WebSocket-Accept")), []byte(websocketAccept(key))) != 1:
		return errors.New("tlsws: WebSocket upgrade: wrong Sec-WebSocket-Accept")
	case resp.Header.Get("Sec-WebSocket-Extensions") != "" || resp.Header.Get("Sec-WebSocket-Protocol") != "":
		return errors.New("tlsws: WebSocket upgrade: the server chose an extension or subprotocol we did not offer")
	}
	return nil
}
