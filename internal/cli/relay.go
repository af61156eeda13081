package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"golang.org/x/crypto/acme/autocert"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/relay"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/obfs4"
	"github.com/samizdat-project/samizdat/transport/pt"
	"github.com/samizdat-project/samizdat/transport/tlsws"
	"github.com/samizdat-project/samizdat/wire"
)

func init() {
	register("relay", "run a volunteer relay in front of a samizdat server", runRelay)
}

// Files in the relay's --state directory (mode 0600; they hold its keys).
const (
	relaySecretFile = "tlsws-secret"     // 32 random bytes, base64url
	relayCertFile   = "tlsws-cert.pem"   // self-signed certificate
	relayKeyFile    = "tlsws-key.pem"    // its ECDSA key
	relayObfs4File  = "obfs4_state.json" // obfs4 keys, obfs4proxy's format
)

type relayFlags struct {
	upstream, listen, transport, cover, coverDir, state, admin string
	public, host, acmeDomain, ptPath, label, register          string
	noQR                                                       bool
	idle                                                       time.Duration
	maxConns                                                   int
	perIPRate                                                  float64
	perIPBurst                                                 int
	mirrorChannels                                             repeated
	channelListen, channelPublic                               string
	mirrorPosts                                                int
	mode, coverOrigin, webCert                                 string
	shapeProfile                                               string
	shape                                                      *tlsws.ShapeProfile // read from shapeProfile
	app                                                        *appFlags           // app.go
}

func runRelay(e env) int {
	if len(e.args) > 0 && e.args[0] == "record-shape" {
		e.args = e.args[1:]
		return runRecordShape(e)
	}
	fs := newFlags(e, "relay")
	var f relayFlags
	fs.StringVar(&f.upstream, "upstream", "", "where to forward: the server link, a relay link, a transport spec or host:port (required)")
	fs.StringVar(&f.listen, "listen", "0.0.0.0:8443", "address to accept clients on")
	fs.StringVar(&f.transport, "transport", "tlsws", "transport to accept: tlsws, obfs4, pt (obfs4 through obfs4proxy) or direct")
	fs.StringVar(&f.cover, "cover", "", "tlsws: URL of the website everyone without the secret sees (reverse proxied)")
	fs.StringVar(&f.coverDir, "cover-dir", "", "tlsws: directory of a static website to serve instead of --cover")
	fs.StringVar(&f.mode, "mode", "", "tlsws deployment (docs/operator-guide.md): behind (nginx or Caddy owns :443 and proxies the secret path to --listen on loopback) or standalone (own :443; every connection without the client's mark is spliced to --cover-origin); empty: Go serves --cover/--cover-dir itself, for tests and the lab only (probes tell it from a real web server)")
	fs.StringVar(&f.coverOrigin, "cover-origin", "", "tlsws --mode standalone: host:port of your real HTTPS website, which gets every connection that is not a client's")
	fs.StringVar(&f.shapeProfile, "shape-profile", "", "tlsws: the opening profile of your cover site (samizdat relay record-shape writes it): tunnels open as Chromium's loads of that site, and the relay link carries it to clients; empty: the built-in profile")
	fs.StringVar(&f.webCert, "web-cert", "", "tlsws --mode behind: the web server's certificate (PEM) to pin in the link; empty: clients check it against the system roots")
	fs.StringVar(&f.state, "state", "", "directory for the relay's keys (created if missing; default $SAMIZDAT_HOME/relay)")
	fs.StringVar(&f.admin, "admin", "", "address of an admin listener serving /metrics (empty: none)")
	fs.StringVar(&f.public, "public", "", "host:port clients dial, put in the relay link (default: --listen)")
	fs.StringVar(&f.host, "host", "", "tlsws: the domain of the website (HTTP Host and TLS name; default: --public's host)")
	fs.StringVar(&f.acmeDomain, "acme-domain", "", "tlsws: get the certificate for this domain from an ACME CA (Let's Encrypt); needs the relay reachable on port 443 under that name")
	fs.StringVar(&f.ptPath, "pt-path", "/usr/bin/obfs4proxy", "pt: the pluggable-transport binary")
	fs.StringVar(&f.label, "label", "samizdat relay", "name of the relay in its link, for people")
	fs.StringVar(&f.register, "register", "", "register with the server (needs --upstream to be the server link) using the registration token in this file (the server operator's --relay-token-file); repeats every 6 h")
	fs.BoolVar(&f.noQR, "no-qr", false, "print only the link, no QR code")
	fs.DurationVar(&f.idle, "idle", 5*time.Minute, "close relayed connections idle this long")
	fs.IntVar(&f.maxConns, "max-conns", 10000, "relay at most this many connections at once")
	fs.Float64Var(&f.perIPRate, "per-ip-rate", relay.DefaultPerIP.PerSecond, "new connections per second per client IP (negative: no limit)")
	fs.IntVar(&f.perIPBurst, "per-ip-burst", relay.DefaultPerIP.Burst, "burst of new connections per client IP")
	fs.Var(&f.mirrorChannels, "mirror-channel", "mirror this channel (its samizdat://channel? link): cache its recent signed posts and serve them to followers while its server is unreachable (repeat for more)")
	fs.StringVar(&f.channelListen, "channel-listen", "", "with --mirror-channel: address to accept channel followers on (its own secure-channel listener)")
	fs.StringVar(&f.channelPublic, "channel-public", "", "host:port followers dial, put in the channel mirror link (default: --channel-listen)")
	fs.IntVar(&f.mirrorPosts, "mirror-posts", 1000, "with --mirror-channel: how many recent posts of each channel to keep")
	f.app = addAppFlags(fs)
	if err := parseFlags(fs, e.args); err != nil {
		return flagExit(err)
	}
	if err := f.check(e); err != nil {
		fmt.Fprintf(e.stderr, "samizdat relay: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	if err := serveRelay(e, log, f); err != nil {
		fmt.Fprintf(e.stderr, "samizdat relay: %v\n", err)
		return 1
	}
	return 0
}

func (f *relayFlags) check(e env) error {
	if f.upstream == "" {
		return errors.New("--upstream is required: give the server's link (samizdat server prints it) or another relay's link")
	}
	switch f.transport {
	case tlsws.Name:
		if err := f.checkMode(); err != nil {
			return err
		}
		if f.acmeDomain != "" && f.host != "" && f.host != f.acmeDomain {
			return fmt.Errorf("--acme-domain %s and --host %s differ: the certificate must be for the website's domain", f.acmeDomain, f.host)
		}
		shape, err := loadShapeProfile(f.shapeProfile)
		if err != nil {
			return err
		}
		f.shape = shape
	case obfs4.Name, "pt", direct.Name:
		if f.shapeProfile != "" {
			return fmt.Errorf("--shape-profile is for --transport tlsws, not %s", f.transport)
		}
	default:
		return fmt.Errorf("unknown --transport %q: use tlsws, obfs4, pt or direct", f.transport)
	}
	if f.public == "" {
		host, _, err := net.SplitHostPort(f.listen)
		if err != nil {
			return fmt.Errorf("--listen %q is not host:port", f.listen)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("--listen %s has no public address: give --public host:port for the relay link", f.listen)
		}
		f.public = f.listen
	}
	if len(f.mirrorChannels) > 0 {
		if _, err := mirrorLinks(f.mirrorChannels); err != nil {
			return err
		}
		if f.channelListen == "" {
			return errors.New("--mirror-channel needs --channel-listen host:port: where followers reach the mirror")
		}
		host, _, err := net.SplitHostPort(f.channelListen)
		if err != nil {
			return fmt.Errorf("--channel-listen %q is not host:port", f.channelListen)
		}
		if ip := net.ParseIP(host); f.channelPublic == "" && (host == "" || ip != nil && ip.IsUnspecified()) {
			return fmt.Errorf("--channel-listen %s has no public address: give --channel-public host:port for the channel mirror link", f.channelListen)
		}
		if f.mirrorPosts < 1 {
			return errors.New("--mirror-posts must be at least 1")
		}
	} else if f.channelListen != "" {
		return errors.New("--channel-listen without --mirror-channel: say which channels to mirror")
	}
	if f.state == "" {
		home := e.home
		if home == "" {
			home = os.Getenv("SAMIZDAT_HOME")
		}
		if home == "" {
			dir, err := os.UserHomeDir()
			if err != nil {
				return errors.New("no --state directory and no home directory: give --state DIR")
			}
			home = filepath.Join(dir, ".samizdat")
		}
		f.state = filepath.Join(home, "relay")
	}
	return nil
}

func serveRelay(e env, log *slog.Logger, f relayFlags) error {
	specs, err := relay.ParseUpstream(f.upstream)
	if err != nil {
		return err
	}
	up, err := relay.NewUpstream(specs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.state, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, spec, err := relayListener(ctx, f)
	if err != nil {
		return err
	}
	metrics := relay.NewMetrics()
	r, err := relay.New(relay.Config{
		Upstream: up, IdleTimeout: f.idle, MaxConns: f.maxConns,
		PerIP:   relay.Rate{PerSecond: f.perIPRate, Burst: f.perIPBurst},
		Metrics: metrics, Logger: log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler())
	adminSrv, err := startAdmin(log, f.admin, mux, "metrics", "/metrics")
	if err != nil {
		ln.Close()
		return err
	}
	defer shutdownAdmin(adminSrv)
	if err := announceRelay(e, f, spec, ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	if f.register != "" {
		reg, err := relayRegistration(f, up, spec, log)
		if err != nil {
			ln.Close()
			return err
		}
		go reg.Run(ctx)
		fmt.Fprintln(e.stdout, "Registering with the server: it publishes the relay in its endpoint book.")
	}
	lns := []relay.NamedListener{{Name: f.transport, Listener: ln}}
	f.app.mirror = len(f.mirrorChannels) > 0
	appSrv, err := f.app.startApp(e, log, f.state, upstreamServerLink(f.upstream))
	if err != nil {
		ln.Close()
		return err
	}
	if appSrv != nil {
		defer appSrv.Close()
		fmt.Fprintln(e.stdout, "Browsers open the app URL; the app's streams go upstream like any tunnel.")
		lns = append(lns, relay.NamedListener{Name: "app", Listener: appSrv.Conns})
	}
	ctx, stopMirror, err := mirrorChannels(ctx, e, log, f, appSrv)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMirror()
	err = r.Serve(ctx, lns...)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// mirrorChannels starts the channel mirror when --mirror-channel asks for
// one (browsers reach it through app, if not nil). The relay serves under
// the returned ctx; stop ends the mirror and waits for it.
func mirrorChannels(ctx context.Context, e env, log *slog.Logger, f relayFlags, app *appServer) (context.Context, func(), error) {
	if len(f.mirrorChannels) == 0 {
		return ctx, func() {}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	mirrorDone, err := startChannelMirror(ctx, e, log, f, app)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return ctx, func() {
		cancel()
		if merr := <-mirrorDone; merr != nil {
			log.Warn("channel mirror stopped", "err", merr)
		}
	}, nil
}

// announceRelay prints the relay's link (and its QR code unless --no-qr)
// for the operator to share.
func announceRelay(e env, f relayFlags, spec transport.Spec, addr net.Addr) error {
	link, err := relay.Link(spec, f.label)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "samizdat relay (%s) listening on %s\nrelay link: %s\n", f.transport, addr, link)
	if !f.noQR {
		q, err := reach.RenderQR(link.String(), false)
		if err != nil {
			fmt.Fprintf(e.stderr, "samizdat relay: %v\n", err)
		} else {
			fmt.Fprint(e.stdout, q)
		}
	}
	fmt.Fprintln(e.stdout, "Share the link (or the QR code) with people who cannot reach the server directly.")
	return nil
}

// upstreamServerLink returns upstream if it is a server link (it carries
// the server's key, which the browser app needs), else "".
func upstreamServerLink(upstream string) string {
	l, err := reach.ParseLink(strings.TrimSpace(upstream))
	if err != nil || l.Chan == (securechan.ServerPublic{}) {
		return ""
	}
	return strings.TrimSpace(upstream)
}

// relayRegistration reads the token and the server key for --register.
func relayRegistration(f relayFlags, up transport.Dialer, spec transport.Spec, log *slog.Logger) (*relay.Registration, error) {
	l, err := reach.ParseLink(strings.TrimSpace(f.upstream))
	if err != nil || l.Chan == (securechan.ServerPublic{}) {
		return nil, errors.New("--register needs --upstream to be the server link: it carries the server key the registration is sent to")
	}
	b, err := readPrivate(f.register)
	if err != nil {
		return nil, fmt.Errorf("reading the registration token: %w", err)
	}
	token := bytes.TrimSpace(b)
	if len(token) < wire.MinRelayToken || len(token) > wire.MaxRelayToken {
		return nil, fmt.Errorf("%s does not hold a registration token; copy the server's --relay-token-file", f.register)
	}
	return &relay.Registration{Server: l.Chan, Dialer: up, Token: token, Spec: spec, Label: f.label, Logger: log}, nil
}

// relayListener starts the transport listener and returns the spec that
// clients dial to reach it.
func relayListener(ctx context.Context, f relayFlags) (transport.Listener, transport.Spec, error) {
	switch f.transport {
	case direct.Name:
		ln, err := direct.Listen(f.listen)
		if err != nil {
			return nil, transport.Spec{}, err
		}
		return ln, direct.Spec(f.public), nil
	case obfs4.Name, "pt":
		st, err := loadOrCreateObfs4State(filepath.Join(f.state, relayObfs4File))
		if err != nil {
			return nil, transport.Spec{}, err
		}
		if f.transport == obfs4.Name {
			ln, err := obfs4.Listen(f.listen, st)
			if err != nil {
				return nil, transport.Spec{}, err
			}
			return ln, ln.Spec(f.public), nil
		}
		ln, err := pt.Listen(ctx, pt.ServerConfig{Config: pt.Config{Path: f.ptPath}, Method: obfs4.Name, BindAddr: f.listen, Options: st.PTOptions()})
		if err != nil {
			return nil, transport.Spec{}, err
		}
		return ln, ln.Spec(f.public), nil
	}
	return tlswsListener(f)
}

// checkMode checks the tlsws deployment flags.
func (f *relayFlags) checkMode() error {
	switch f.mode {
	case "":
		if (f.cover == "") == (f.coverDir == "") {
			return errors.New("tlsws needs --mode behind or --mode standalone (see docs/operator-guide.md); for tests, exactly one of --cover URL and --cover-dir DIR")
		}
	case "behind":
		host, _, err := net.SplitHostPort(f.listen)
		path, isUnix := strings.CutPrefix(f.listen, "unix:")
		if ip := net.ParseIP(host); !isUnix && (err != nil || ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--mode behind: --listen %s must be a loopback address such as 127.0.0.1:8081, or a unix socket such as unix:/run/samizdat-relay/relay.sock, which only the web server reaches", f.listen)
		}
		if isUnix && !filepath.IsAbs(path) {
			return fmt.Errorf("--mode behind: --listen %s: give the unix socket's absolute path, such as unix:/run/samizdat-relay/relay.sock", f.listen)
		}
		if f.public == "" || f.host == "" {
			return errors.New("--mode behind needs --public (the web server's host:443) and --host (the website's domain) for the relay link")
		}
	case "standalone":
		if f.coverOrigin == "" {
			return errors.New("--mode standalone needs --cover-origin host:port: your real HTTPS website, which every probe is spliced to")
		}
		if f.host == "" {
			return errors.New("--mode standalone needs --host: the domain of the website at --cover-origin (clients send it as SNI)")
		}
	default:
		return fmt.Errorf("unknown --mode %q: use behind or standalone", f.mode)
	}
	return nil
}

func tlswsListener(f relayFlags) (transport.Listener, transport.Spec, error) {
	if f.mode != "" {
		return tlswsDeployed(f)
	}
	var cover http.Handler
	if f.coverDir != "" {
		cover = tlsws.CoverDir(f.coverDir)
	} else {
		u, err := url.Parse(f.cover)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, transport.Spec{}, fmt.Errorf("--cover %q is not an http(s) URL", f.cover)
		}
		cover = tlsws.CoverProxy(u)
	}
	host := f.host
	if host == "" {
		host, _, _ = net.SplitHostPort(f.public)
	}
	secret, err := loadOrCreateSecret(filepath.Join(f.state, relaySecretFile))
	if err != nil {
		return nil, transport.Spec{}, err
	}
	if f.acmeDomain != "" {
		// A certificate from an ACME CA (Let's Encrypt by default) for the
		// relay's real domain: clients then verify it against the system
		// roots, with no pin in the link, exactly as a browser would.
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(f.acmeDomain),
			Cache:      autocert.DirCache(filepath.Join(f.state, "acme")),
		}
		ln, err := tlsws.Listen(tlsws.ListenConfig{Addr: f.listen, Secret: secret, Cover: cover, Autocert: m, Shape: f.shape})
		if err != nil {
			return nil, transport.Spec{}, err
		}
		cfg := tlsws.DialConfig{Addr: f.public, Host: f.acmeDomain, Secret: secret, Shape: f.shape, NoPreamble: true}
		return ln, cfg.Spec(), nil
	}
	cert, err := loadOrCreateCert(f.state, host)
	if err != nil {
		return nil, transport.Spec{}, err
	}
	ln, err := tlsws.Listen(tlsws.ListenConfig{Addr: f.listen, Secret: secret, Cover: cover, Certificate: &cert, Shape: f.shape})
	if err != nil {
		return nil, transport.Spec{}, err
	}
	// A website-mode relay sends no preamble (only the standalone sorter does).
	cfg := tlsws.DialConfig{Addr: f.public, Host: host, Secret: secret, Pin: tlsws.PinOf(cert.Leaf), Shape: f.shape, NoPreamble: true}
	return ln, cfg.Spec(), nil
}

// tlswsDeployed starts the relay in one of the two production deployments
// of docs/operator-guide.md.
func tlswsDeployed(f relayFlags) (transport.Listener, transport.Spec, error) {
	secret, err := loadOrCreateSecret(filepath.Join(f.state, relaySecretFile))
	if err != nil {
		return nil, transport.Spec{}, err
	}
	if f.mode == "behind" {
		ln, err := tlsws.ListenBehind(tlsws.BehindConfig{Addr: f.listen, Secret: secret, Shape: f.shape})
		if err != nil {
			return nil, transport.Spec{}, err
		}
		// nginx and Caddy do not carry WebSockets over HTTP/2: the link
		// offers only http/1.1, as Chrome does for a WebSocket connection.
		cfg := tlsws.DialConfig{Addr: f.public, Host: f.host, Secret: secret, WebSocketALPN: true, Shape: f.shape}
		if f.webCert != "" {
			b, err := os.ReadFile(f.webCert)
			if err != nil {
				ln.Close()
				return nil, transport.Spec{}, fmt.Errorf("--web-cert: %w", err)
			}
			blk, _ := pem.Decode(b)
			var leaf *x509.Certificate
			if blk != nil {
				leaf, err = x509.ParseCertificate(blk.Bytes)
			}
			if blk == nil || err != nil {
				ln.Close()
				return nil, transport.Spec{}, fmt.Errorf("--web-cert %s: not a PEM certificate", f.webCert)
			}
			cfg.Pin = tlsws.PinOf(leaf)
		}
		fmt.Fprintf(os.Stderr, "samizdat relay: proxy WebSocket upgrades on %s to %s (docs/operator-guide.md)\n", tlsws.SecretPath(secret), ln.Addr())
		return ln, cfg.Spec(), nil
	}
	cert, err := loadOrCreateCert(f.state, f.host)
	if err != nil {
		return nil, transport.Spec{}, err
	}
	ln, err := tlsws.ListenStandalone(tlsws.StandaloneConfig{Addr: f.listen, Secret: secret, CoverAddr: f.coverOrigin, Certificate: &cert, Shape: f.shape})
	if err != nil {
		return nil, transport.Spec{}, err
	}
	cfg := tlsws.DialConfig{Addr: f.public, Host: f.host, Secret: secret, Pin: tlsws.PinOf(cert.Leaf), Shape: f.shape}
	return ln, cfg.Spec(), nil
}

// readPrivate reads a key file, refusing one that others can read.
func readPrivate(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others; run: chmod 600 %s", path, path)
	}
	return os.ReadFile(path)
}

func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret := make([]byte, 32)
		rand.Read(secret)
		return secret, atomicfile.WriteNew(path, []byte(base64.RawURLEncoding.EncodeToString(secret)), 0o600)
	}
	if err != nil {
		return nil, err
	}
	secret, err := base64.RawURLEncoding.DecodeString(string(b))
	if err != nil || len(secret) < tlsws.MinSecretLen {
		return nil, fmt.Errorf("%s is not a base64url secret of at least %d bytes; remove it to make a new one (the relay link changes)", path, tlsws.MinSecretLen)
	}
	return secret, nil
}

func loadOrCreateCert(dir, host string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, relayCertFile), filepath.Join(dir, relayKeyFile)
	keyPEM, err := readPrivate(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		cert, err := tlsws.SelfSigned(host)
		if err != nil {
			return tls.Certificate{}, err
		}
		der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("encoding the certificate key: %w", err)
		}
		if err := atomicfile.WriteNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
			return tls.Certificate{}, err
		}
		return cert, atomicfile.WriteNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	}
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading %s and %s: not a certificate and its key; remove both to make new ones (the relay link changes)", certPath, keyPath)
	}
	return cert, nil
}

func loadOrCreateObfs4State(path string) (*obfs4.ServerState, error) {
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		st, err := obfs4.GenerateServerState(obfs4.IATNone)
		if err != nil {
			return nil, err
		}
		js, err := st.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return st, atomicfile.WriteNew(path, js, 0o600)
	}
	if err != nil {
		return nil, err
	}
	return obfs4.ParseServerState(b)
}
