package tlsws

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

// coverOrigin is a stand-in for the operator's real website: a Go TLS
// server with its own certificate, so a client can tell which one
// answered by the certificate it got.
func coverOrigin(t *testing.T) (addr string, cert tls.Certificate) {
	cert, err := SelfSigned("cover.test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return testnet.Serve(t, ln, testnet.Discard(5*time.Second)), cert
}

func standalone(t *testing.T, now func() time.Time) (*Listener, DialConfig, tls.Certificate) {
	coverAddr, coverCert := coverOrigin(t)
	cert, err := SelfSigned("cover.test")
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{7}, 32)
	ln, err := ListenStandalone(StandaloneConfig{Addr: "127.0.0.1:0", Secret: secret, CoverAddr: coverAddr, Certificate: &cert, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	testnet.Serve(t, ln, testnet.Echo)
	return ln, DialConfig{Addr: ln.Addr().String(), Host: "cover.test", Secret: secret, Pin: PinOf(cert.Leaf)}, coverCert
}

// serverCertOf sends raw as the client's first flight and returns the
// certificate the server presents to a fresh Go TLS client that continues
// from there: only possible when raw is a hello the server answers with a
// handshake we can finish, so instead it reports which server answered by
// the size of its first flight.
func firstFlightFrom(t *testing.T, addr string, raw []byte) []byte {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(raw)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var got []byte
	buf := make([]byte, 8192)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got
		}
	}
}

// TestStandaloneMarkedClientGetsTunnel: a real client reaches the relay;
// a client with the wrong secret (no valid mark) is spliced to the cover
// and fails on the pin, having met the cover's TLS.
func TestStandaloneMarkedClientGetsTunnel(t *testing.T) {
	_, cfg, _ := standalone(t, nil)
	c := dialWS(t, cfg) // a marked client gets a tunnel
	c.Write([]byte("ping"))
	got := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo through the tunnel: %q, %v", got, err)
	}
	c.Close()

	wrong := cfg
	wrong.Secret = bytes.Repeat([]byte{8}, 32)
	d2, _ := NewDialer(wrong)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := d2.Dial(ctx); err == nil {
		t.Fatal("a client with another secret got through")
	}
}

// TestAdversaryReplayedMarkIsSpliced: a censor records a real client's
// ClientHello and sends it again. The relay must hand the replay to the
// cover origin (whose ServerHello answers it), exactly as it hands any
// unmarked hello; it must not answer with its own TLS. The same goes for a
// mark from a stale epoch.
func TestAdversaryReplayedMarkIsSpliced(t *testing.T) {
	clock := time.Now()
	ln, cfg, _ := standalone(t, func() time.Time { return clock })
	hello := recordHello(t, cfg)

	first := firstFlightFrom(t, ln.Addr().String(), hello)
	replay := firstFlightFrom(t, ln.Addr().String(), hello)
	// The cover (Go, certificate not pinned) and the relay's TLS server
	// both answer a hello with a ServerHello; what tells them apart is
	// whether the relay took the hello: then the cover never saw it. Ask
	// the checker directly for the replay verdict, and the wire for the
	// fact that both flights are TLS.
	if len(first) == 0 || first[0] != 0x16 || len(replay) == 0 || replay[0] != 0x16 {
		t.Fatalf("no TLS answer: first %d bytes, replay %d bytes", len(first), len(replay))
	}
	s := ln.front.(*sorter)
	h := parseHello(t, hello)
	if s.marks.check(h) {
		t.Fatal("the relay accepted a replayed mark")
	}
	fresh := recordHello(t, cfg)
	clock = clock.Add(3 * markEpoch)
	if s.marks.check(parseHello(t, fresh)) {
		t.Fatal("the relay accepted a mark three epochs old")
	}
	clock = clock.Add(-3 * markEpoch)
	tampered := parseHello(t, fresh)
	tampered[len(tampered)-1] ^= 1
	if s.marks.check(tampered) {
		t.Fatal("the relay accepted a mark on a modified hello")
	}
	if !s.marks.check(parseHello(t, fresh)) {
		t.Fatal("the relay refused a fresh valid mark")
	}
}

// recordHello captures the first flight (the ClientHello record) a real
// dialer sends for cfg (cfg.Addr is the capturing listener's).
func recordHello(t *testing.T, cfg DialConfig) []byte {
	return transporttest.FirstFlight(t, func(addr string) transport.Dialer {
		cfg.Addr = addr
		d, err := NewDialer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func parseHello(t *testing.T, record []byte) []byte {
	if len(record) < 5 {
		t.Fatal("no hello recorded")
	}
	return bytes.Clone(record[5:])
}

// FuzzMarkCheck: the checker never panics on any hello bytes and never
// accepts random ones.
func FuzzMarkCheck(f *testing.F) {
	f.Add(make([]byte, 80))
	f.Add([]byte{1, 0, 0, 4, 3, 3})
	hello := make([]byte, 200)
	hello[sessionIDOffset-1] = markLen
	f.Add(hello)
	mc := newMarkChecker(bytes.Repeat([]byte{1}, 32), nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		if mc.check(b) {
			t.Fatal("random bytes carried a valid mark")
		}
	})
}

// TestAdversarySpliceKeepsTheCoversReset: a cover origin that answers a
// probe with a TCP reset (as Go's TLS server and nginx do to some
// malformed hellos) must reset the prober through the splice too; a FIN
// there told the lab's prober the relay from the web server it compares
// with ("ends with fin, web server with rst").
func TestAdversarySpliceKeepsTheCoversReset(t *testing.T) {
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	go func() {
		for {
			c, err := cl.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 64)
				c.Read(buf)
				c.(*net.TCPConn).SetLinger(0) // reset, not FIN
				c.Close()
			}()
		}
	}()
	cert, err := SelfSigned("cover.test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ListenStandalone(StandaloneConfig{Addr: "127.0.0.1:0", Secret: bytes.Repeat([]byte{7}, 32), CoverAddr: cl.Addr().String(), Certificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	probe := func(addr string) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("\x16\x03\x01\x00\x05hello, not a hello"))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = io.ReadAll(c)
		return err
	}
	direct, spliced := probe(cl.Addr().String()), probe(ln.Addr().String())
	if !errors.Is(direct, syscall.ECONNRESET) {
		t.Fatalf("the cover itself ended with %v, want a reset (test setup)", direct)
	}
	if !errors.Is(spliced, syscall.ECONNRESET) {
		t.Errorf("through the splice the probe ended with %v, the cover with a reset", spliced)
	}
}
