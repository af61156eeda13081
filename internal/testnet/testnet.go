// Package testnet holds the loopback network fixtures that tests of several
// packages share: a listener serving each accepted connection on its own
// goroutine, a forwarder to a target, echo and discard handlers, and a free
// address. It is for
// tests only and imports nothing of samizdat.
package testnet

import (
	"io"
	"net"
	"testing"
	"time"
)

// Serve accepts on ln until it is closed, handing each connection to handle
// on its own goroutine; the listener closes when the test ends. It returns
// the listener's address.
func Serve(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// ServeTCP listens on a free loopback port and serves it with handle (see
// Serve).
func ServeTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	return Serve(t, Listen(t), handle)
}

// Forward serves ln (see Serve) as a TCP forwarder to target: for each
// accepted connection it dials target and hands both ends to link, which
// owns them; when target cannot be dialled the accepted connection is
// closed. Tests build their relays, proxies and middleboxes on it.
func Forward(t testing.TB, ln net.Listener, target string, link func(in, out net.Conn)) string {
	t.Helper()
	return Serve(t, ln, func(in net.Conn) {
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			return
		}
		link(in, out)
	})
}

// AcceptOne accepts one connection on ln in the background and sends it
// on the returned channel, which is closed without one if Accept fails.
func AcceptOne(ln net.Listener) <-chan net.Conn {
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	return accepted
}

// Listen listens on a free loopback TCP port.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnet: listening on loopback: %v", err)
	}
	return ln
}

// FreeAddr is a loopback address that nothing listened on a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln := Listen(t)
	defer ln.Close()
	return ln.Addr().String()
}

// MustEcho writes msg on c and fails t unless the same bytes come back
// within 5 s (c reaches an Echo handler, perhaps through a relay or a
// middlebox).
func MustEcho(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	c.Write(msg)
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("testnet: echo of %q: got %q, %v", msg, got, err)
	}
	c.SetReadDeadline(time.Time{})
}

// Echo copies everything back until the peer half-closes, then closes.
func Echo(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
}

// Greet returns a handler that writes greeting, then echoes (see Echo).
func Greet(greeting string) func(net.Conn) {
	return func(c net.Conn) {
		c.Write([]byte(greeting))
		Echo(c)
	}
}

// Discard reads and drops everything for at most d, then closes.
func Discard(d time.Duration) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(d))
		io.Copy(io.Discard, c)
	}
}
