// Package tlsws owns the "tls+websocket" camouflage transport.
//
// The client opens TCP, speaks TLS 1.3 with a ClientHello built by uTLS from
// a captured hello of the installed Chromium (chrome_hello.go: same
// ciphers, extensions, groups, GREASE and extension shuffling), carrying
// the hello mark in its session_id (mark.go), then an HTTP/1.1 WebSocket
// upgrade on a secret path, and carries the caller's bytes in binary
// WebSocket messages.
// SNI and the HTTP Host header are set separately, so the connection can go
// through a CDN: SNI names an allowed front domain, Host names our domain.
//
// The server runs in one of two deployments so that probes meet a real web
// server: behind nginx or Caddy (ListenBehind, plain HTTP on loopback), or
// standalone (ListenStandalone), splicing every connection without a
// valid hello mark to the operator's real website. Listen, where Go's own
// HTTP server serves a cover site, is for tests and the lab only.
//
// ALPN: Chrome offers "h2" and "http/1.1". The server offers only "http/1.1",
// so a direct connection always negotiates HTTP/1.1 and the upgrade works;
// the server's choice travels in TLS 1.3's encrypted extensions, which a
// censor does not see. A CDN in front may pick "h2"; the dialer then retries
// once offering only "http/1.1", which is what Chrome itself offers on a
// connection it opens for a WebSocket. See docs/spec/transports.md.
package tlsws

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/samizdat-project/samizdat/transport"
)

// Name is the transport name in a Spec.
const Name = "tlsws"

// Spec parameters.
const (
	ParamHost   = "host"   // HTTP Host (our domain); required
	ParamSNI    = "sni"    // TLS server name (the front domain); default: host
	ParamSecret = "secret" // base64url path secret, at least 16 bytes; required
	ParamPin    = "pin"    // base64url SHA-256 of the server certificate's SubjectPublicKeyInfo; optional
	ParamALPN   = "alpn"   // "h2,http/1.1" (default, Chrome's page load) or "http/1.1" (Chrome's WebSocket connection)
	ParamShape  = "shape"  // the opening profile of the relay's cover site, in link form (ShapeProfile.EncodeLink); optional

	// ParamPreamble "none" says the relay sends no preamble records (it
	// is behind a web server, or in website mode): the client's request
	// then goes as the trace's client's did, instead of after waiting
	// for them. Optional: without it the client waits (at most 100 ms).
	ParamPreamble = "preamble"
)

// MinSecretLen is the shortest path secret accepted.
const MinSecretLen = 16

// Secret-path derivation label; changing it changes every relay's path.
const pathLabel = "samizdat tlsws path v1"

// SecretPath returns the URL path that upgrades to the tunnel for secret:
// "/" followed by 22 base64url characters (128 bits) of
// HMAC-SHA256(secret, label). It looks like a content-hashed asset name.
func SecretPath(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(pathLabel))
	return "/" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// PinOf returns the pin parameter for a certificate: base64url of the
// SHA-256 of its SubjectPublicKeyInfo.
func PinOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Chrome's ALPN lists.
var (
	alpnChrome    = []string{"h2", "http/1.1"}
	alpnWebSocket = []string{"http/1.1"}
)

// DialConfig says how to reach one tlsws endpoint.
type DialConfig struct {
	Addr   string // host:port of the TCP connection (the relay, or the CDN's edge)
	Host   string // HTTP Host header: our domain
	SNI    string // TLS server name; empty means Host
	Secret []byte // path secret shared with the server

	// Pin, when set, replaces WebPKI verification: the server's leaf
	// certificate must have this SubjectPublicKeyInfo hash (PinOf).
	Pin string
	// RootCAs, when set and Pin is empty, replaces the system roots.
	RootCAs *x509.CertPool
	// WebSocketALPN offers only "http/1.1" from the first try, as Chrome does
	// on a connection opened for a WebSocket. Use it when a CDN is known to
	// pick h2.
	WebSocketALPN bool
	// Shape is the opening profile the relay replays, recorded from its
	// own cover site (nil: the built-in one).
	Shape *ShapeProfile
	// NoPreamble says the relay sends no preamble records before its 101
	// (ParamPreamble): a relay behind a web server, or in website mode.
	// The client's replay then waits for none of the relay's records:
	// behind a web server they are the web server's, re-framed.
	NoPreamble bool
	// ShapeErr says why the spec's profile was not taken (ConfigFromSpec):
	// the dialer then replays the built-in one, as the relay does not.
	ShapeErr error
}

// ConfigFromSpec reads a tlsws Spec.
func ConfigFromSpec(s transport.Spec) (DialConfig, error) {
	if err := s.Check(Name, ParamHost, ParamSNI, ParamSecret, ParamPin, ParamALPN, ParamShape, ParamPreamble); err != nil {
		return DialConfig{}, err
	}
	cfg := DialConfig{Addr: s.Addr, Host: s.Get(ParamHost), SNI: s.Get(ParamSNI), Pin: s.Get(ParamPin)}
	secret, err := base64.RawURLEncoding.DecodeString(s.Get(ParamSecret))
	if err != nil {
		return DialConfig{}, fmt.Errorf("tlsws: parameter %q is not base64url", ParamSecret)
	}
	cfg.Secret = secret
	if v := s.Get(ParamShape); v != "" {
		// A malformed profile is not fatal: the tunnel still opens, with
		// the built-in profile's replay, and the error says why.
		cfg.Shape, cfg.ShapeErr = DecodeShapeLink(v)
	}
	switch s.Get(ParamPreamble) {
	case "":
	case "none":
		cfg.NoPreamble = true
	default:
		return DialConfig{}, fmt.Errorf("tlsws: parameter %q must be %q or absent", ParamPreamble, "none")
	}
	switch s.Get(ParamALPN) {
	case "", strings.Join(alpnChrome, ","):
	case strings.Join(alpnWebSocket, ","):
		cfg.WebSocketALPN = true
	default:
		return DialConfig{}, fmt.Errorf("tlsws: parameter %q must be %q or %q", ParamALPN, "h2,http/1.1", "http/1.1")
	}
	return cfg, cfg.check()
}

// Spec returns the Spec that carries cfg (RootCAs is not carried).
func (cfg DialConfig) Spec() transport.Spec {
	p := map[string]string{
		ParamHost:   cfg.Host,
		ParamSecret: base64.RawURLEncoding.EncodeToString(cfg.Secret),
	}
	if cfg.SNI != "" && cfg.SNI != cfg.Host {
		p[ParamSNI] = cfg.SNI
	}
	if cfg.Pin != "" {
		p[ParamPin] = cfg.Pin
	}
	if cfg.WebSocketALPN {
		p[ParamALPN] = strings.Join(alpnWebSocket, ",")
	}
	if cfg.Shape != nil {
		p[ParamShape] = cfg.Shape.EncodeLink()
	}
	if cfg.NoPreamble {
		p[ParamPreamble] = "none"
	}
	return transport.Spec{Name: Name, Addr: cfg.Addr, Params: p}
}

func (cfg DialConfig) check() error {
	if cfg.Host == "" {
		return fmt.Errorf("tlsws: no Host: say which domain the relay serves")
	}
	if len(cfg.Secret) < MinSecretLen {
		return fmt.Errorf("tlsws: path secret is %d bytes, at least %d needed", len(cfg.Secret), MinSecretLen)
	}
	if cfg.Pin != "" {
		if b, err := base64.RawURLEncoding.DecodeString(cfg.Pin); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("tlsws: pin must be base64url of a SHA-256 hash")
		}
	}
	return nil
}

func (cfg DialConfig) serverName() string {
	if cfg.SNI != "" {
		return cfg.SNI
	}
	return cfg.Host
}
