package memnet

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/censor"
	"github.com/samizdat-project/samizdat/censor/fingerprint"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

var (
	clientIP = netip.MustParseAddr("198.18.0.10")
	serverIP = netip.MustParseAddr("198.18.70.1")
)

// TestConformance runs the transport conformance suite over memnet conns,
// with and without a (rule-less) censor in the path.
func TestConformance(t *testing.T) {
	for name, eng := range map[string]func() *censor.Engine{
		"no-censor":    func() *censor.Engine { return nil },
		"empty-censor": func() *censor.Engine { return censor.New(censor.Config{}) },
	} {
		t.Run(name, func(t *testing.T) {
			transporttest.Run(t, func(t *testing.T) (transport.Dialer, transport.Listener) {
				n := New(eng())
				l, err := n.Host(serverIP).Listen("tcp", ":443")
				if err != nil {
					t.Fatal(err)
				}
				c := n.Host(clientIP)
				d := transport.DialerFunc(func(ctx context.Context) (net.Conn, error) {
					return c.DialContext(ctx, "tcp", l.Addr().String())
				})
				return d, l
			})
		})
	}
}

// pair dials a fresh connection through n and returns both ends.
func pair(t *testing.T, n *Network, server netip.AddrPort) (net.Conn, net.Conn) {
	t.Helper()
	l, err := n.Host(server.Addr()).Listen("tcp", server.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c, err := n.Host(clientIP).Dial("tcp", server.String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func randomPacket(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	for {
		b := make([]byte, 200)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if censor.FETExemption(b) == censor.NotExempt {
			return b
		}
	}
}

// TestFirstWriteIsTheFirstPacket: the fully-encrypted rule judges the first
// client Write; a blocked flow's client bytes vanish, and a new dial on the
// same triple is black-holed.
func TestFirstWriteIsTheFirstPacket(t *testing.T) {
	e := censor.New(censor.Config{Seed: 1})
	e.Add(&censor.FullyEncrypted{Probability: 1, Residual: 180 * time.Second})
	n := New(e)
	server := netip.AddrPortFrom(serverIP, 8388)
	c, s := pair(t, n, server)
	if _, err := c.Write(randomPacket(1)); err != nil {
		t.Fatalf("write: %v (a drop must look like success)", err)
	}
	s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := s.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server read %d bytes, err %v; want a timeout", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := n.Host(clientIP).DialContext(ctx, "tcp", server.String())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("redial on a residual-blocked triple: %v, want a timeout", err)
	}
}

// TestThrottleRealClock: a throttled flow downloads at 130-150 kbit/s.
func TestThrottleRealClock(t *testing.T) {
	e := censor.New(censor.Config{Seed: 2})
	e.Add(&censor.Throttle{SNIs: []string{"twitter.com"}, MinBPS: 130e3, MaxBPS: 150e3})
	n := New(e)
	c, s := pair(t, n, netip.AddrPortFrom(serverIP, 443))
	hello := fingerprint.MTProtoFakeTLSHello(rand.New(rand.NewPCG(1, 1)), "twitter.com")
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, len(hello))); err != nil {
		t.Fatal(err)
	}
	const size = 12 << 10
	start := time.Now()
	go func() {
		for i := 0; i < size/1024; i++ {
			s.Write(make([]byte, 1024))
		}
	}()
	if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	rate := float64(size*8) / time.Since(start).Seconds()
	t.Logf("throttled download: %.1f kbit/s", rate/1e3)
	if rate < 120e3 || rate > 151e3 { // lower bound leaves room for a slow machine
		t.Errorf("rate %.0f bit/s, want 130-150 kbit/s", rate)
	}
}

// TestStallFreezesConnection: the client receives 16-20 KB, then nothing.
func TestStallFreezesConnection(t *testing.T) {
	e := censor.New(censor.Config{Seed: 3})
	e.Add(&censor.Stall{Servers: []netip.Prefix{netip.MustParsePrefix("198.18.64.0/18")}, MinBytes: 16 << 10, MaxBytes: 20 << 10})
	n := New(e)
	c, s := pair(t, n, netip.AddrPortFrom(serverIP, 443))
	go func() {
		for i := 0; i < 64; i++ {
			s.Write(make([]byte, 1024))
		}
	}()
	got := 0
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		k, err := c.Read(buf)
		got += k
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read: %v, want a timeout after the stall", err)
			}
			break
		}
	}
	if got < 16<<10 || got > 20<<10 {
		t.Errorf("received %d bytes before the freeze, want 16384-20480", got)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Errorf("write after the freeze: %v (frozen flows swallow writes silently)", err)
	}
}

// TestResetAndRefusal: an SNI-denylisted hello resets the flow (both ends
// see ECONNRESET); a listed IP black-holes dials; no listener refuses.
func TestResetAndRefusal(t *testing.T) {
	e := censor.New(censor.Config{Seed: 4})
	e.Add(&censor.SNIDenylist{Names: []string{"telegram.org"}},
		&censor.IPBlocklist{Stages: []censor.Stage{{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.18.10.0/24")}}}})
	n := New(e)
	c, s := pair(t, n, netip.AddrPortFrom(serverIP, 443))
	hello := fingerprint.MTProtoFakeTLSHello(rand.New(rand.NewPCG(1, 1)), "telegram.org")
	if _, err := c.Write(hello); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("write of a denylisted hello: %v, want ECONNRESET", err)
	}
	if _, err := s.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("server read: %v, want ECONNRESET", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := n.Host(clientIP).DialContext(ctx, "tcp", "198.18.10.1:443"); err == nil || !err.(net.Error).Timeout() {
		t.Errorf("dial to a blocklisted address: %v, want a timeout", err)
	}
	if _, err := n.Host(clientIP).Dial("tcp", "198.18.70.9:443"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial with no listener: %v, want ECONNREFUSED", err)
	}
}
