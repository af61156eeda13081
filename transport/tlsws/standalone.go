package tlsws

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
)

// StandaloneConfig says how to run tlsws alone on port 443 in front of the
// operator's real website (deployment 2 of docs/operator-guide.md).
type StandaloneConfig struct {
	Addr   string // host:port clients and probes reach, e.g. 0.0.0.0:443
	Secret []byte // path secret, at least MinSecretLen bytes; also keys the hello mark

	// CoverAddr is the real TLS website (host:port) every connection
	// without a valid mark is spliced to, byte for byte: the operator's own
	// nginx on another port or host. Required.
	CoverAddr string
	// Certificate is what marked clients get (self-signed, pinned in the
	// relay link). Probes never see it.
	Certificate *tls.Certificate

	// KeyExchanges are the TLS 1.3 groups offered to marked clients, in
	// preference order. They must be what the cover origin picks for
	// Chrome, or a passive observer sees the ServerHello differ in size
	// (an X25519MLKEM768 share is 1,120 bytes, X25519's 32). nil means
	// X25519 alone, what OpenSSL 3.0 (Debian 12's nginx) picks; with an
	// OpenSSL 3.5 cover use X25519MLKEM768 first.
	KeyExchanges []tls.CurveID

	// Shape is the opening profile tunnels replay: Chromium's loads of
	// the cover origin (nil: the built-in one).
	Shape *ShapeProfile

	// DialCover, when set, opens connections to CoverAddr (tests).
	DialCover func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now, when set, is the clock the marks are checked against (tests).
	Now func() time.Time
}

// coverDialTimeout bounds the dial to the cover origin. When the cover is
// down the relay closes the connection, as a site that is down would.
const coverDialTimeout = 10 * time.Second

// spliceLinger bounds how long the relay keeps reading a client after the
// cover origin closed the connection: a client that sends nothing more is
// closed then (the cover would have answered it with a reset).
const spliceLinger = time.Minute

// maxHelloLen bounds what the sorter keeps of one connection's ClientHello
// (Chrome's is about 2 KB); a longer one is the cover's, which gets every
// byte anyway.
const maxHelloLen = 32 << 10

// ListenStandalone starts the sorter: it reads each connection's
// ClientHello and hands the marked ones to tlsws's HTTP server (TLS with
// cfg.Certificate), splicing every other connection to the cover origin.
// See docs/spec/transports.md, "tlsws standalone".
func ListenStandalone(cfg StandaloneConfig) (*Listener, error) {
	switch {
	case len(cfg.Secret) < MinSecretLen:
		return nil, fmt.Errorf("tlsws: path secret is %d bytes, at least %d needed", len(cfg.Secret), MinSecretLen)
	case cfg.CoverAddr == "":
		return nil, errors.New("tlsws: no cover origin: give the host:port of the real website unmarked connections go to")
	case cfg.Certificate == nil:
		return nil, errors.New("tlsws: no certificate for marked clients: set Certificate (SelfSigned)")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("tlsws: listening: %w", err)
	}
	s := &sorter{
		ln:     ln,
		cfg:    cfg,
		marks:  newMarkChecker(cfg.Secret, cfg.Now),
		marked: &connQueue{conns: make(chan net.Conn), closed: make(chan struct{}), addr: ln.Addr()},
	}
	if s.cfg.DialCover == nil {
		nd := &net.Dialer{KeepAlive: 30 * time.Second}
		s.cfg.DialCover = nd.DialContext
	}
	l := newListener(ln, cfg.Secret, notFound)
	l.shape = cfg.Shape.set()
	l.front = s
	s.tls = &tls.Config{
		Certificates:     []tls.Certificate{*cfg.Certificate},
		NextProtos:       []string{"http/1.1"},
		MinVersion:       tls.VersionTLS13, // our own client speaks 1.3
		CurvePreferences: cfg.KeyExchanges,
		// The opening's replay sets record sizes (shape.go).
		DynamicRecordSizingDisabled: true,
	}
	if cfg.KeyExchanges == nil {
		s.tls.CurvePreferences = []tls.CurveID{tls.X25519}
	}
	go s.acceptLoop()
	// The sorter hands over conns whose TLS handshake is done.
	l.serve(func() { l.srv.Serve(s.marked) })
	return l, nil
}

// sorter accepts TCP connections and sorts them by their ClientHello.
type sorter struct {
	ln     net.Listener
	cfg    StandaloneConfig
	marks  *markChecker
	marked *connQueue  // marked connections, in TLS, for the HTTP server
	tls    *tls.Config // marked connections' TLS
}

// serveMarked completes a marked client's TLS handshake, sends the
// preamble (shape.go: the relay speaks first, as an HTTP/2 server does)
// and hands the conn to the HTTP server.
func (s *sorter) serveMarked(c net.Conn) {
	tc := tls.Server(c, s.tls)
	ctx, cancel := context.WithTimeout(context.Background(), markedHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return
	}
	// The relay's records before the request go out while the HTTP server
	// reads it; the tunnel's replay (acceptWebSocket) waits for them.
	shape := s.cfg.Shape.set()
	if cork, ok := c.(*corkConn); ok && shapeOpenings && len(shape) > 0 {
		if rc, ok := cork.Conn.(*recordCounter); ok {
			cs := tc.ConnectionState()
			if i := shape.exporterTraceIndex(cs.ExportKeyingMaterial); i >= 0 {
				done := make(chan struct{})
				cork.opening = done
				go func() {
					defer close(done)
					if sendPreface(tc, rc, serverPreface(shape[i]), time.Now()) != nil {
						tc.Close()
					}
				}()
			}
		}
	}
	s.marked.push(tc)
}

// markedHandshakeTimeout bounds a marked client's TLS handshake.
const markedHandshakeTimeout = 20 * time.Second

func (s *sorter) Close() error {
	err := s.ln.Close()
	s.marked.Close()
	return err
}

func (s *sorter) acceptLoop() {
	var pause time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		go s.sort(c)
	}
}

// Sorting states: nothing decided yet, the connection is the cover's, or it
// is ours (a marked client).
const (
	undecided = iota
	spliced
	ours
)

// verdict is a connection's sorting state, decided once by whichever of
// the two directions claims it first.
type verdict struct {
	mu    sync.Mutex
	state int
}

// claim moves an undecided verdict to want and returns the state.
func (v *verdict) claim(want int) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state == undecided {
		v.state = want
	}
	return v.state
}

// sort opens the cover connection at once (so that the cover's own
// timeouts run from the moment the client connected) and forwards to it
// every byte the client sends, except the read that completes a marked
// ClientHello: a marked client's hello never reaches the cover. The first
// byte the cover sends, or a hello without a valid fresh mark, or anything
// that is not a ClientHello, makes the connection the cover's for good.
func (s *sorter) sort(c net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), coverDialTimeout)
	cover, err := s.cfg.DialCover(ctx, "tcp", s.cfg.CoverAddr)
	cancel()
	if err != nil {
		c.Close()
		return
	}
	v := &verdict{}
	claim := v.claim
	coverDone := make(chan struct{})
	go func() {
		defer close(coverDone)
		copyCoverReply(c, cover, v)
	}()

	var hello []byte
	buf := make([]byte, 16<<10)
	for {
		n, rerr := c.Read(buf)
		chunk := buf[:n]
		if n > 0 && claim(undecided) == undecided {
			hello = append(hello, chunk...)
			h, perr := tlsfingerprint.ParseRecords(hello)
			if perr == nil && s.marks.check(h.Raw) && claim(ours) == ours {
				cover.Close()
				<-coverDone
				s.serveMarked(&corkConn{Conn: &recordCounter{Conn: &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(hello), c)}}})
				return
			}
			if !errors.Is(perr, tlsfingerprint.ErrIncomplete) || len(hello) > maxHelloLen {
				claim(spliced)
				hello = nil
			}
		}
		if n > 0 {
			if _, werr := cover.Write(chunk); werr != nil {
				claim(spliced)
				c.Close()
				cover.Close()
				break
			}
		}
		if rerr != nil {
			claim(spliced)
			if errors.Is(rerr, io.EOF) {
				closeWrite(cover)
			} else {
				c.Close()
				cover.Close()
			}
			break
		}
		if claim(undecided) == spliced {
			hello = nil
			// From here on a plain forwarder (splice(2) where the kernel can).
			if _, err := io.Copy(cover, c); err == nil {
				closeWrite(cover)
			} else {
				c.Close()
				cover.Close()
			}
			break
		}
	}
	<-coverDone
	c.Close()
	cover.Close()
}

// copyCoverReply forwards the cover's bytes to the client c, once the
// connection is the cover's: the cover speaking first decides it so. If
// the connection is ours instead, the cover conn is closed under it and it
// returns. A cover's reset reaches the client as a reset.
func copyCoverReply(c, cover net.Conn, v *verdict) {
	buf := make([]byte, 32<<10)
	n, err := cover.Read(buf)
	if v.claim(spliced) != spliced {
		return // ours: the cover conn was closed under us
	}
	if n > 0 {
		if _, werr := c.Write(buf[:n]); werr != nil {
			err = werr
		}
	}
	if err == nil {
		_, err = io.CopyBuffer(c, cover, buf)
	}
	if err == nil || errors.Is(err, io.EOF) {
		closeWrite(c)
		c.SetReadDeadline(time.Now().Add(spliceLinger))
		return
	}
	if errors.Is(err, syscall.ECONNRESET) {
		resetOnClose(c) // the cover reset the connection: so do we
	}
	c.Close()
	cover.Close()
}

// resetOnClose makes c's Close send a TCP reset instead of a FIN, so a
// prober sees the cover origin's own ending through the splice.
func resetOnClose(c net.Conn) {
	if tc, ok := c.(interface{ SetLinger(int) error }); ok {
		tc.SetLinger(0)
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	c.Close()
}

// prefixConn reads what the sorter already read, then the conn.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// connQueue is a net.Listener fed by push.
type connQueue struct {
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
	addr   net.Addr
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.conns <- c:
	case <-q.closed:
		c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.closed:
		return nil, errClosed("accepting")
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
