package securechan

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// scriptConn is a connection whose peer sent in and then went quiet: reads
// return in, then EOF; writes are kept.
type scriptConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv6loopback, Port: 1} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.ParseIP("2001:db8::66"), Port: 2}
}
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// forgeFirstMessage builds a framed first message for the server key in
// cfg as anyone who knows only the server's public key can: it runs the
// client against a connection that never answers and keeps what it wrote.
func forgeFirstMessage(t testing.TB, cfg ClientConfig) []byte {
	t.Helper()
	c := &scriptConn{in: bytes.NewReader(nil)}
	if _, err := Client(context.Background(), c, cfg); err == nil {
		t.Fatal("client handshake against a silent peer succeeded")
	}
	b := c.out.Bytes()
	n, err := FirstMessageLen(b)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// TestAdversaryReplayCacheFlood: an attacker who knows only the server's
// public key fills the replay cache with first messages stamped at the far
// edge of the window. An honest client must still connect, and the replay
// defence must still hold for its messages.
func TestAdversaryReplayCacheFlood(t *testing.T) {
	const size = 32
	f := newFixture(t, ServerConfig{ReplayCacheSize: size})
	attacker := f.clientConfig()
	attacker.Now = func() time.Time { return f.clock.Now().Add(DefaultReplayWindow) }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 * size {
		first := forgeFirstMessage(t, attacker)
		if c, err := f.server.Accept(ctx, &scriptConn{in: bytes.NewReader(first)}); err == nil {
			c.Close()
		}
	}

	// The honest client connects, a little later, with the right time.
	f.clock.Add(time.Second)
	w := f.clientBytes(t, f.clientConfig(), "honest handshake after a replay-cache flood")

	// Everything the honest client sent, replayed on a fresh connection,
	// gets no session: neither its first message nor a retried one.
	for i := 0; len(w) > 0 && i < 3; i++ {
		n, err := FirstMessageLen(w)
		if err != nil {
			break // past the first messages: records
		}
		if _, err := f.server.Accept(ctx, &scriptConn{in: bytes.NewReader(w[:n])}); err == nil {
			t.Fatalf("replayed first message %d of the honest client was accepted", i)
		}
		w = w[n:]
	}
}

// TestRetryCookieIsBoundToItsConnection: a first message carrying a cookie
// is accepted only on the connection the cookie was issued on.
func TestRetryCookieIsBoundToItsConnection(t *testing.T) {
	f := newFixture(t, ServerConfig{ReplayCacheSize: 1})
	// Fill the one slot, so the next client is asked to retry.
	if c, err := f.server.Accept(context.Background(), &scriptConn{in: bytes.NewReader(forgeFirstMessage(t, f.clientConfig()))}); err == nil {
		c.Close()
	}
	w := f.clientBytes(t, f.clientConfig(), "handshake with a retry")
	n, err := FirstMessageLen(w)
	if err != nil {
		t.Fatal(err)
	}
	second := w[n:]
	m, err := FirstMessageLen(second)
	if err != nil {
		t.Fatalf("no second (cookie) first message after a retry: %v", err)
	}
	if err := replay(t, f, second[:m]); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay of a cookie first message on another connection = %v, want ErrReplay", err)
	}
	// The first message, replayed while the cache is still full, gets a
	// retry (as its original did) and no session.
	c := &scriptConn{in: bytes.NewReader(w[:n])}
	if _, err := f.server.Accept(context.Background(), c); err == nil {
		t.Fatal("replayed first message got a session")
	}
	if got := c.out.Len(); got != handshakeHeaderLen+retryLen {
		t.Fatalf("server answered a first message under load with %d bytes, want a %d-byte retry", got, handshakeHeaderLen+retryLen)
	}
}
