// Package transporttest owns the conformance suite that every samizdat
// transport passes (Run), and the tools of the "never looks like X" tests:
// capturing a dialer's first flight (FirstFlight), the 2023 fully-encrypted-
// traffic exemption rules (CheckExemptions), and TLS ClientHello fingerprints
// (JA3, JA4).
package transporttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

// Factory returns a fresh Dialer and the Listener it reaches. Each subtest
// calls it once; the suite closes the listener when the subtest ends.
type Factory func(t *testing.T) (transport.Dialer, transport.Listener)

// conformanceCase is one subtest of the suite.
type conformanceCase struct {
	name string
	fn   func(t *testing.T, f Factory)
}

// needs names the cases that need a capability, and the check of it.
var needs = map[string]func(capabilities) bool{
	"CloseWrite":                func(c capabilities) bool { return c.halfClose },
	"GarbageKeepsListenerAlive": func(c capabilities) bool { return c.tcpAddr },
}

// capabilities are the optional abilities of a transport, probed once so
// that the cases a transport cannot pass by design are not registered at all
// (instead of being registered and skipped).
type capabilities struct {
	halfClose bool // the dialed conn has CloseWrite
	tcpAddr   bool // the listener's address is a TCP address raw probes can reach
}

func (c capabilities) String() string {
	return fmt.Sprintf("half-close=%v tcp-listener=%v", c.halfClose, c.tcpAddr)
}

// probeCapabilities builds one pair, dials it once and reports what the
// transport can do.
func probeCapabilities(t *testing.T, f Factory) capabilities {
	var caps capabilities
	t.Run("Capabilities", func(t *testing.T) {
		d, ln := setupPair(t, f, echo)
		c := dial(t, d)
		_, caps.halfClose = c.(interface{ CloseWrite() error })
		caps.tcpAddr = ln.Addr().Network() == "tcp"
		roundTrip(t, c, []byte("probe"), []int{5})
		t.Logf("%T: %v", c, caps)
	})
	return caps
}

// Run runs the conformance suite against the transport that f builds. Cases
// that need a capability the transport does not have (half-close, a TCP
// listener address) are left out, and the Capabilities subtest logs which.
func Run(t *testing.T, f Factory) {
	caps := probeCapabilities(t, f)
	cases := []conformanceCase{
		{"EchoSmall", testEchoSmall},
		{"Echo1MiB", testEcho1MiB},
		{"ConcurrentConns", testConcurrentConns},
		{"ConnAddrs", testConnAddrs},
		{"PeerCloseGivesEOF", testPeerCloseGivesEOF},
		{"ClientCloseGivesServerEOF", testClientCloseGivesServerEOF},
		{"CloseWrite", testCloseWrite},
		{"CloseUnblocksRead", testCloseUnblocksRead},
		{"ReadWriteAfterClose", testReadWriteAfterClose},
		{"ReadDeadline", testReadDeadline},
		{"PastDeadlineUnblocksRead", testPastDeadlineUnblocksRead},
		{"WriteDeadline", testWriteDeadline},
		{"ListenerCloseUnblocksAccept", testListenerCloseUnblocksAccept},
		{"DialClosedListenerFails", testDialClosedListenerFails},
		{"DialCancelledContextFails", testDialCancelledContext},
		{"GarbageKeepsListenerAlive", testGarbageKeepsListenerAlive},
	}
	for _, c := range cases {
		if applies, ok := needs[c.name]; ok && !applies(caps) {
			continue
		}
		t.Run(c.name, func(t *testing.T) { c.fn(t, f) })
	}
}

// timeout bounds every blocking step of the suite.
const timeout = 10 * time.Second

// setup builds a pair, serves each accepted conn with handle on its own
// goroutine, and tears everything down at the end of the test.
func setup(t *testing.T, f Factory, handle func(net.Conn)) transport.Dialer {
	t.Helper()
	d, _ := setupPair(t, f, handle)
	return d
}

func setupPair(t *testing.T, f Factory, handle func(net.Conn)) (transport.Dialer, transport.Listener) {
	t.Helper()
	d, ln := f(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Accept: %v (want only net.ErrClosed errors)", err)
				}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return d, ln
}

// echo copies everything back, then closes.
func echo(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	io.Copy(c, c)
}

func dial(t *testing.T, d transport.Dialer) net.Conn {
	t.Helper()
	c := Dial(t, d, "Dial")
	c.SetDeadline(time.Now().Add(timeout))
	return c
}

// Dial dials d, allowing it 10 seconds, and fails the test saying what was
// dialed if it cannot; the conn closes when the test ends.
func Dial(t testing.TB, d transport.Dialer, what string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// roundTrip writes data in chunks of the given sizes (cycling) while reading
// the echo concurrently, and checks the echo is identical.
func roundTrip(t *testing.T, c net.Conn, data []byte, chunks []int) {
	t.Helper()
	werr := make(chan error, 1)
	go func() {
		rest, i := data, 0
		for len(rest) > 0 {
			n := min(chunks[i%len(chunks)], len(rest))
			if _, err := c.Write(rest[:n]); err != nil {
				werr <- err
				return
			}
			rest, i = rest[n:], i+1
		}
		werr <- nil
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo differs from what was sent (%d bytes)", len(data))
	}
}

func testEchoSmall(t *testing.T, f Factory) {
	c := dial(t, setup(t, f, echo))
	roundTrip(t, c, []byte("hello, samizdat"), []int{1 << 10})
	roundTrip(t, c, []byte{0}, []int{1})
}

func testEcho1MiB(t *testing.T, f Factory) {
	c := dial(t, setup(t, f, echo))
	roundTrip(t, c, randomBytes(1<<20), []int{65536, 1, 7, 1000, 100000, 16384})
}

func testConcurrentConns(t *testing.T, f Factory) {
	d := setup(t, f, echo)
	const conns = 32
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			c, err := d.Dial(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(timeout))
			data := randomBytes(32 << 10)
			go c.Write(data)
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, data) {
				errs <- errors.New("echo differs")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testConnAddrs(t *testing.T, f Factory) {
	srv := make(chan net.Conn, 1)
	c := dial(t, setup(t, f, func(c net.Conn) { srv <- c }))
	s := <-srv
	defer s.Close()
	for name, a := range map[string]net.Addr{"client local": c.LocalAddr(), "client remote": c.RemoteAddr(), "server local": s.LocalAddr(), "server remote": s.RemoteAddr()} {
		if a == nil || a.String() == "" {
			t.Errorf("%s address is empty", name)
		}
	}
}

func testPeerCloseGivesEOF(t *testing.T, f Factory) {
	msg := randomBytes(100 << 10)
	c := dial(t, setup(t, f, func(c net.Conn) {
		c.Write(msg)
		c.Close()
	}))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("ReadAll after the server's Close: %v (want io.EOF after the data)", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes before EOF, want the %d written", len(got), len(msg))
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("Read after EOF = %d, %v; want 0 and an error", n, err)
	}
}

func testClientCloseGivesServerEOF(t *testing.T, f Factory) {
	type result struct {
		data []byte
		err  error
	}
	res := make(chan result, 1)
	c := dial(t, setup(t, f, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(c)
		res <- result{b, err}
	}))
	msg := randomBytes(70 << 10)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r := <-res
	if r.err != nil || !bytes.Equal(r.data, msg) {
		t.Fatalf("server read %d bytes, err %v; want all %d then io.EOF", len(r.data), r.err, len(msg))
	}
}

// testCloseWrite runs only for conns that can half-close (Run checks the
// capability before registering it).
func testCloseWrite(t *testing.T, f Factory) {
	c := dial(t, setup(t, f, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		b, err := io.ReadAll(c)
		if err != nil {
			return
		}
		c.Write(append([]byte("got:"), b...))
	}))
	hc, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite, yet the capability probe found one", c)
	}
	c.Write([]byte("ping"))
	if err := hc.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "got:ping" {
		t.Fatalf("after CloseWrite read %q, %v; want \"got:ping\" then io.EOF", got, err)
	}
}

// silent holds the conn open without reading or writing until the test ends
// (t.Context is done before the cleanups run).
func silent(t *testing.T) func(net.Conn) {
	return func(c net.Conn) {
		<-t.Context().Done()
		c.Close()
	}
}

func testCloseUnblocksRead(t *testing.T, f Factory) {
	if err := blockedReadAfter(t, f, "Close", func(c net.Conn) { c.Close() }); err == nil {
		t.Fatal("blocked Read returned no error after Close")
	}
}

// blockedReadAfter starts a Read on a conn whose peer stays silent, lets
// it block, calls unblock (what names it) and returns the Read's error; the
// test fails if the Read is still blocked after the timeout.
func blockedReadAfter(t *testing.T, f Factory, what string, unblock func(c net.Conn)) error {
	t.Helper()
	c := dial(t, setup(t, f, silent(t)))
	rerr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		rerr <- err
	}()
	time.Sleep(50 * time.Millisecond)
	unblock(c)
	select {
	case err := <-rerr:
		return err
	case <-time.After(timeout):
		t.Fatalf("%s did not unblock a blocked Read", what)
		return nil
	}
}

func testReadWriteAfterClose(t *testing.T, f Factory) {
	c := dial(t, setup(t, f, silent(t)))
	c.Close()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// isTimeout reports whether err is what net.Conn promises for a deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

func testReadDeadline(t *testing.T, f Factory) {
	release := make(chan struct{})
	c := dial(t, setup(t, f, func(c net.Conn) {
		defer c.Close()
		<-release
		c.Write([]byte("late"))
		c.SetDeadline(time.Now().Add(timeout))
		io.Copy(io.Discard, c)
	}))
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 10))
	if !isTimeout(err) {
		t.Fatalf("Read past the deadline: %v; want os.ErrDeadlineExceeded as a net.Error with Timeout()", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Read timed out after %v, want about 100ms", d)
	}
	// The conn survives a read timeout and loses no byte.
	close(release)
	c.SetReadDeadline(time.Now().Add(timeout))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "late" {
		t.Fatalf("after a read timeout read %q, %v; want \"late\"", got, err)
	}
}

func testPastDeadlineUnblocksRead(t *testing.T, f Factory) {
	err := blockedReadAfter(t, f, "a past deadline", func(c net.Conn) { c.SetReadDeadline(time.Unix(1, 0)) })
	if !isTimeout(err) {
		t.Fatalf("Read unblocked by a past deadline: %v; want a timeout", err)
	}
}

func testWriteDeadline(t *testing.T, f Factory) {
	c := dial(t, setup(t, f, silent(t)))
	c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	chunk := randomBytes(64 << 10)
	for written := 0; written < 1<<30; written += len(chunk) {
		_, err := c.Write(chunk)
		if err == nil {
			continue
		}
		if !isTimeout(err) {
			t.Fatalf("Write to a peer that never reads failed with %v; want a timeout", err)
		}
		return
	}
	t.Fatal("wrote 1 GiB to a peer that never reads without a timeout")
}

func testListenerCloseUnblocksAccept(t *testing.T, f Factory) {
	_, ln := f(t)
	aerr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		aerr <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-aerr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked Accept after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(timeout):
		t.Fatal("Close did not unblock Accept")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v; want net.ErrClosed", err)
	}
	if ln.Addr() == nil {
		t.Fatal("Addr is nil after Close")
	}
	ln.Close() // idempotent: must not panic
}

func testDialClosedListenerFails(t *testing.T, f Factory) {
	d, ln := f(t)
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.Dial(ctx)
	if err == nil {
		c.Close()
		t.Fatal("Dial to a closed listener succeeded")
	}
}

func testDialCancelledContext(t *testing.T, f Factory) {
	d := setup(t, f, echo)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := d.Dial(ctx)
	if err == nil {
		c.Close()
		t.Fatal("Dial with a cancelled context succeeded")
	}
}

// probeLengths are the random-probe lengths of "How China Detects and Blocks
// Shadowsocks" (IMC 2020), and a few neighbours.
var probeLengths = []int{1, 7, 8, 9, 11, 12, 13, 15, 16, 17, 21, 22, 23, 32, 33, 34, 40, 41, 42, 48, 49, 50, 221, 4096}

func testGarbageKeepsListenerAlive(t *testing.T, f Factory) {
	d, ln := setupPair(t, f, echo)
	addr := ln.Addr()
	if addr.Network() != "tcp" {
		t.Fatalf("listener address network is %q, yet the capability probe found tcp", addr.Network())
	}
	probes := [][]byte{nil, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte("\x16\x03\x01\x00\x05hello")}
	for _, n := range probeLengths {
		probes = append(probes, randomBytes(n))
	}
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := net.DialTimeout("tcp", addr.String(), timeout)
			if err != nil {
				t.Errorf("raw dial: %v", err)
				return
			}
			defer raw.Close()
			raw.Write(p)
			raw.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			io.Copy(io.Discard, raw)
		}()
	}
	wg.Wait()
	// The listener still serves real clients.
	c := dial(t, d)
	roundTrip(t, c, []byte("still here"), []int{64})
}
