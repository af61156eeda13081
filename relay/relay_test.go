package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/obfs4"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// echoServer is the stand-in upstream: it echoes every byte, and after the
// client's half-close it writes "bye" and closes.
func echoServer(t testing.TB) string {
	t.Helper()
	return testnet.ServeTCP(t, func(c net.Conn) {
		defer c.Close()
		io.Copy(c, c)
		c.Write([]byte("bye"))
	})
}

// startRelay runs a relay with cfg on ln until the test ends.
func startRelay(t testing.TB, cfg Config, name string, ln transport.Listener) *Relay {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, NamedListener{Name: name, Listener: ln}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return r
}

func directRelay(t testing.TB, cfg Config) (*Relay, string) {
	t.Helper()
	ln, err := direct.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startRelay(t, cfg, "direct", ln), ln.Addr().String()
}

// roundTrip writes random bytes through c, half-closes, and checks that the
// echo and the upstream's "bye" come back: data both ways and half-close
// propagation through the relay.
func roundTrip(t *testing.T, c net.Conn, n int) {
	t.Helper()
	msg := make([]byte, n)
	rand.Read(msg)
	go func() {
		c.Write(msg)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		return
	}
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "bye" {
		t.Fatalf("after half-close: got %q, %v; want \"bye\" then EOF", rest, err)
	}
}

func TestRelayDirect(t *testing.T) {
	up := echoServer(t)
	r, addr := directRelay(t, Config{Upstream: direct.NewDialer(up)})
	for _, n := range []int{1, 1000, 1 << 20} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, n)
		c.Close()
	}
	waitFor(t, func() bool { return r.Metrics().Active.Load() == 0 })
	m := r.Metrics()
	if m.Relayed.Load() != 3 || m.Accepted("direct") != 3 {
		t.Errorf("relayed %d, accepted %d; want 3, 3", m.Relayed.Load(), m.Accepted("direct"))
	}
	want := uint64(1 + 1000 + 1<<20)
	if m.BytesUp.Load() != want || m.BytesDown.Load() != want+3*3 {
		t.Errorf("bytes up %d down %d; want %d and %d", m.BytesUp.Load(), m.BytesDown.Load(), want, want+9)
	}
	var b strings.Builder
	m.WriteTo(&b)
	for _, s := range []string{`samizdat_relay_accepted_total{transport="direct"} 3`, "samizdat_relay_relayed_total 3", "samizdat_relay_active 0"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("metrics lack %q:\n%s", s, b.String())
		}
	}
}

func TestRelayTLSWSAndObfs4(t *testing.T) {
	up := echoServer(t)
	cfg := Config{Upstream: direct.NewDialer(up)}

	cert, err := tlsws.SelfSigned("relay.test")
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	tln, err := tlsws.Listen(tlsws.ListenConfig{Addr: "127.0.0.1:0", Secret: secret, Cover: tlsws.CoverDir(t.TempDir()), Certificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	startRelay(t, cfg, "tlsws", tln)
	td, err := tlsws.NewDialer(tlsws.DialConfig{Addr: tln.Addr().String(), Host: "relay.test", Secret: secret, Pin: tlsws.PinOf(cert.Leaf)})
	if err != nil {
		t.Fatal(err)
	}

	st, err := obfs4.GenerateServerState(obfs4.IATNone)
	if err != nil {
		t.Fatal(err)
	}
	oln, err := obfs4.Listen("127.0.0.1:0", st)
	if err != nil {
		t.Fatal(err)
	}
	startRelay(t, cfg, "obfs4", oln)
	od, err := obfs4.NewDialer(oln.Spec(oln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}

	for name, d := range map[string]transport.Dialer{"tlsws": td, "obfs4": od} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := d.Dial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			roundTrip(t, c, 300<<10)
		})
	}
}

// TestRelayChain: client -> relay B (tlsws) -> relay A (obfs4) -> server,
// the upstream of B given as A's relay link.
func TestRelayChain(t *testing.T) {
	up := echoServer(t)
	st, _ := obfs4.GenerateServerState(obfs4.IATNone)
	oln, err := obfs4.Listen("127.0.0.1:0", st)
	if err != nil {
		t.Fatal(err)
	}
	startRelay(t, Config{Upstream: direct.NewDialer(up)}, "obfs4", oln)
	link, err := Link(oln.Spec(oln.Addr().String()), "relay A")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := ParseUpstream(link.String())
	if err != nil {
		t.Fatal(err)
	}
	upA, err := NewUpstream(specs)
	if err != nil {
		t.Fatal(err)
	}
	_, addrB := directRelay(t, Config{Upstream: upA})
	c, err := net.Dial("tcp", addrB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, 100<<10)
}

func TestRelayIdleTimeout(t *testing.T) {
	up := echoServer(t)
	r, addr := directRelay(t, Config{Upstream: direct.NewDialer(up), IdleTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Traffic every 100 ms keeps the connection for longer than the timeout.
	buf := make([]byte, 1)
	var last time.Time
	for range 8 {
		c.Write([]byte{'x'})
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("active connection closed: %v", err)
		}
		last = time.Now()
		time.Sleep(100 * time.Millisecond)
	}
	// Then silence: the relay closes within about the timeout.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(c)
	took := time.Since(last)
	if err != nil || len(rest) != 0 {
		t.Fatalf("idle connection: read %q, %v; want a clean close", rest, err)
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("idle close after %v; want about 300ms", took)
	}
	waitFor(t, func() bool { return r.Metrics().IdleClosed.Load() == 1 })
}

func TestRelayRateLimitAndCap(t *testing.T) {
	up := echoServer(t)
	r, addr := directRelay(t, Config{Upstream: direct.NewDialer(up), PerIP: Rate{PerSecond: 0.001, Burst: 3}})
	open := func() (net.Conn, bool) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("a"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		_, err = c.Read(b[:])
		return c, err == nil
	}
	for i := range 5 {
		c, ok := open()
		c.Close()
		if ok != (i < 3) {
			t.Errorf("connection %d relayed=%v; want the first 3 only", i, ok)
		}
	}
	if r.Metrics().RateLimited.Load() != 2 {
		t.Errorf("rate limited %d; want 2", r.Metrics().RateLimited.Load())
	}

	r2, addr2 := directRelay(t, Config{Upstream: direct.NewDialer(up), MaxConns: 2, PerIP: Rate{PerSecond: -1}})
	addr = addr2
	var held []net.Conn
	for i := range 3 {
		c, ok := open()
		held = append(held, c)
		if ok != (i < 2) {
			t.Errorf("connection %d relayed=%v with cap 2", i, ok)
		}
	}
	if r2.Metrics().OverCap.Load() != 1 {
		t.Errorf("over cap %d; want 1", r2.Metrics().OverCap.Load())
	}
	held[0].Close()
	waitFor(t, func() bool { return r2.Metrics().Active.Load() == 1 })
	c, ok := open()
	c.Close()
	if !ok {
		t.Error("a slot freed by a close was not reused")
	}
	for _, c := range held {
		c.Close()
	}
}

func TestLimiterBoundedAndExpiring(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(Rate{PerSecond: 1, Burst: 2}, 4, func() time.Time { return now })
	ip := func(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 1} }
	for i, want := range []bool{true, true, false} { // a burst of 2, then refused
		if got := l.allow(ip("10.0.0.1")); got != want {
			t.Fatalf("burst of 2 not enforced: request %d allowed=%v", i+1, got)
		}
	}
	// One /64 is one subscriber.
	if !l.allow(ip("2001:db8::1")) || !l.allow(ip("2001:db8::2")) || l.allow(ip("2001:db8::3")) {
		t.Fatal("IPv6 not limited per /64")
	}
	for _, s := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"} {
		l.allow(ip(s))
	}
	if n := l.tracked(); n > 4 {
		t.Fatalf("limiter holds %d IPs; bound is 4", n)
	}
	now = now.Add(3 * time.Second) // every bucket has refilled
	l.allow(ip("10.0.0.9"))
	if n := l.tracked(); n != 1 {
		t.Fatalf("after refill the limiter holds %d IPs; want only the newest", n)
	}
}

func TestParseUpstream(t *testing.T) {
	tl := tlsws.DialConfig{Addr: "relay.example:443", Host: "example.org", Secret: bytes.Repeat([]byte{7}, 16)}.Spec()
	link, err := Link(tl, "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"127.0.0.1:7443", []string{"direct://127.0.0.1:7443"}},
		{"direct://server.example:7443", []string{"direct://server.example:7443"}},
		{tl.String(), []string{tl.String()}},
		{link.String(), []string{tl.String()}},
		{link.HTTPS("https://samizdat.example/join"), []string{tl.String()}},
	} {
		specs, err := ParseUpstream(tc.in)
		if err != nil {
			t.Errorf("ParseUpstream(%.40q): %v", tc.in, err)
			continue
		}
		var got []string
		for _, s := range specs {
			got = append(got, s.String())
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("ParseUpstream(%.40q) = %v; want %v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "nonsense", "samizdat://relay", "pt://1.2.3.4:5"} {
		specs, err := ParseUpstream(bad)
		if err == nil {
			if _, err = NewUpstream(specs); err == nil {
				t.Errorf("ParseUpstream+NewUpstream(%q) accepted", bad)
			}
		}
	}
	// A relay link parses back to the same entry through reach.
	back, err := reach.ParseLink(link.String())
	if err != nil || len(back.Unsigned) != 1 || back.Unsigned[0].Kind != reach.KindRelay {
		t.Fatalf("relay link does not read back as one relay entry: %+v, %v", back, err)
	}
}

// TestServeStopsEverything: cancelling Serve's context closes relayed
// connections and returns.
func TestServeStopsEverything(t *testing.T) {
	up := echoServer(t)
	r, err := New(Config{Upstream: direct.NewDialer(up)})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := direct.Listen("127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Serve(ctx, NamedListener{"direct", ln}) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	waitFor(t, func() bool { return r.Metrics().Active.Load() == 1 })
	cancel()
	wg.Wait()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c)
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts after Serve returned")
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached within 10s")
}
