// Package obfs4 owns samizdat's obfs4 transport: the Tor project's obfs4
// protocol, run in-process through the lyrebird library
// (gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/lyrebird,
// package transports/obfs4). A Listener wraps a TCP listener and runs the
// obfs4 server handshake on each connection; a Dialer runs the client
// handshake against a server's bridge-line parameters (cert, iat-mode).
//
// The server's long-term key material is a ServerState that the caller
// generates once and persists (MarshalJSON / ParseServerState, in the same
// obfs4_state.json format as lyrebird and obfs4proxy use). The client side
// needs only the public Params, carried in a transport.Spec:
//
//	obfs4://host:port?cert=<base64>&iat-mode=<0|1|2>
//
// What the first packet looks like to a censor, and why, is in SPEC.md.
package obfs4

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	pt "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/goptlib"
	lyre "gitlab.torproject.org/tpo/anti-censorship/pluggable-transports/lyrebird/transports/obfs4"

	"github.com/samizdat-project/samizdat/transport"
)

// Name is the transport name in a transport.Spec.
const Name = "obfs4"

// Spec parameter keys (the names of obfs4's bridge-line arguments).
const (
	ParamCert    = "cert"
	ParamIATMode = "iat-mode"
)

var randRead = rand.Read

// IATMode is obfs4's inter-arrival-time obfuscation mode.
type IATMode int

const (
	// IATNone sends each Write as one burst padded to a sampled length.
	IATNone IATMode = 0
	// IATEnabled splits bursts into MTU-sized writes with random delays
	// (up to 10 ms each).
	IATEnabled IATMode = 1
	// IATParanoid also randomises every write's length; slow.
	IATParanoid IATMode = 2
)

func (m IATMode) valid() bool { return m >= IATNone && m <= IATParanoid }

// Params are the public parameters a client needs to reach an obfs4 server:
// its bridge line's cert (node ID and identity public key) and iat-mode.
type Params struct {
	Cert    string
	IATMode IATMode
}

// Validate checks that the cert decodes to a node ID and a public key and
// that the IAT mode is known.
func (p Params) Validate() error {
	raw, err := base64.StdEncoding.DecodeString(p.Cert + "==")
	if err != nil || len(raw) != certLen {
		return fmt.Errorf("obfs4: checking params: cert must be base64 of %d bytes", certLen)
	}
	if !p.IATMode.valid() {
		return fmt.Errorf("obfs4: checking params: invalid iat-mode %d", p.IATMode)
	}
	return nil
}

// String returns the bridge-line form, "cert=<cert> iat-mode=<n>", as it
// appears after the fingerprint in a Tor "Bridge obfs4 ..." line.
func (p Params) String() string {
	return fmt.Sprintf("%s=%s %s=%d", ParamCert, p.Cert, ParamIATMode, p.IATMode)
}

// Spec returns the transport.Spec for the server at addr (host:port).
func (p Params) Spec(addr string) transport.Spec {
	return transport.Spec{Name: Name, Addr: addr, Params: map[string]string{
		ParamCert:    p.Cert,
		ParamIATMode: strconv.Itoa(int(p.IATMode)),
	}}
}

// ptArgs returns the parameters as per-connection PT arguments.
func (p Params) ptArgs() pt.Args {
	a := pt.Args{}
	a.Add(ParamCert, p.Cert)
	a.Add(ParamIATMode, strconv.Itoa(int(p.IATMode)))
	return a
}

// ParamsFromSpec reads and validates the obfs4 parameters of spec. Both cert
// and iat-mode are required; unknown parameters are an error.
func ParamsFromSpec(spec transport.Spec) (Params, error) {
	if err := spec.Check(Name, ParamCert, ParamIATMode); err != nil {
		return Params{}, fmt.Errorf("obfs4: reading spec: %w", err)
	}
	cert, ok := spec.Params[ParamCert]
	if !ok {
		return Params{}, fmt.Errorf("obfs4: reading spec: %w: missing %q", transport.ErrBadSpec, ParamCert)
	}
	iat, ok := spec.Params[ParamIATMode]
	if !ok {
		return Params{}, fmt.Errorf("obfs4: reading spec: %w: missing %q", transport.ErrBadSpec, ParamIATMode)
	}
	mode, err := strconv.Atoi(iat)
	if err != nil || strconv.Itoa(mode) != iat {
		return Params{}, fmt.Errorf("obfs4: reading spec: %w: iat-mode is not a number", transport.ErrBadSpec)
	}
	p := Params{Cert: cert, IATMode: IATMode(mode)}
	if err := p.Validate(); err != nil {
		return Params{}, fmt.Errorf("%w: %w", transport.ErrBadSpec, err)
	}
	return p, nil
}

// Dialer runs the obfs4 client handshake to one server. It is safe for
// concurrent use; every Dial uses a fresh ephemeral key.
type Dialer struct {
	addr   string
	params Params

	// DialContext opens the underlying TCP connection; nil means a
	// net.Dialer. Set it before the first Dial (e.g. to go out through a
	// SOCKS proxy or the censor lab's in-memory network).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ transport.Dialer = (*Dialer)(nil)

// NewDialer returns a Dialer for an obfs4 spec (see ParamsFromSpec).
func NewDialer(spec transport.Spec) (*Dialer, error) {
	p, err := ParamsFromSpec(spec)
	if err != nil {
		return nil, err
	}
	return &Dialer{addr: spec.Addr, params: p}, nil
}

// NewDialerParams returns a Dialer for the server at addr with params p.
func NewDialerParams(addr string, p Params) (*Dialer, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Dialer{addr: addr, params: p}, nil
}

// Dial opens a TCP connection and runs the obfs4 client handshake. It
// honours ctx until the handshake is done; a server that is not obfs4, or
// has another key, shows as a handshake error or (since an obfs4 server
// never answers a bad handshake) as ctx's deadline.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	// lyrebird's ParseArgs makes the session (ephemeral) key, so it runs on
	// every dial: reusing parsed args would reuse the ephemeral key.
	cf, err := (&lyre.Transport{}).ClientFactory("")
	if err != nil {
		return nil, fmt.Errorf("obfs4: dialing: %w", err)
	}
	args, err := cf.ParseArgs(ptArgsPtr(d.params.ptArgs()))
	if err != nil {
		return nil, fmt.Errorf("obfs4: dialing: parsing params: %w", err)
	}
	dial := d.DialContext
	if dial == nil {
		var nd net.Dialer
		dial = nd.DialContext
	}
	raw, err := dial(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("obfs4: dialing %s: %w", d.addr, err)
	}
	// Abort the handshake when ctx ends. Closing (rather than a deadline)
	// is robust against lyrebird setting its own handshake deadline.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	c, err := cf.Dial("tcp", d.addr, func(string, string) (net.Conn, error) { return raw, nil }, args)
	if !stop() {
		// ctx ended: the raw conn is (being) closed whatever the outcome.
		if c != nil {
			c.Close()
		}
		raw.Close()
		return nil, fmt.Errorf("obfs4: handshake with %s: %w", d.addr, ctx.Err())
	}
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("obfs4: handshake with %s: %w", d.addr, err)
	}
	return newConn(c, raw), nil
}

func ptArgsPtr(a pt.Args) *pt.Args { return &a }

// conn adapts lyrebird's obfs4 connection to the transport contract:
// lyrebird refuses SetDeadline and SetWriteDeadline (ENOTSUP) and is not safe
// for concurrent Writes (the frame encoder is shared), so deadlines go to the
// TCP conn underneath and Writes are serialised.
type conn struct {
	net.Conn          // lyrebird's obfs4 conn
	raw      net.Conn // the TCP conn under it

	writeMu sync.Mutex // serialises Write: guards the frame encoder in Conn
	readMu  sync.Mutex // serialises Read: guards the frame decoder in Conn
}

func newConn(obfs, raw net.Conn) *conn { return &conn{Conn: obfs, raw: raw} }

func (c *conn) Read(b []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	return c.Conn.Read(b)
}

// Write frames b and writes it. A Write that fails part-way (a write
// deadline, a reset) leaves the stream unusable: the encoder state has moved
// on, so the caller must Close.
func (c *conn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.Conn.Write(b)
}

func (c *conn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
func (c *conn) Close() error                       { return c.raw.Close() }
func (c *conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }

// CloseWrite half-closes the stream when the TCP conn underneath can: the
// peer reads io.EOF after the bytes already written.
func (c *conn) CloseWrite() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("obfs4: close write: underlying conn cannot half-close")
}
