package obfs4

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
)

// Throughput benchmarks over loopback, with plain TCP in the same run as
// the baseline, for the relay's figures in docs/benchmarks.md:
//
//	go test -run '^$' -bench . -benchtime 2s ./transport/obfs4/

// benchPair returns a connected client/server pair: obfs4 with the given
// IAT mode, or plain TCP when tcp is true.
func benchPair(b *testing.B, tcp bool, mode IATMode) (client, server net.Conn) {
	b.Helper()
	var ln net.Listener
	var dial func(context.Context) (net.Conn, error)
	if tcp {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ln = l
		dial = func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", l.Addr().String())
		}
	} else {
		d, l := newPair(b, mode)
		ln = listenerAdapter{l}
		dial = d.Dial
	}
	b.Cleanup(func() { ln.Close() })
	accepted := testnet.AcceptOne(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		b.Fatal(err)
	}
	s, ok := <-accepted
	if !ok {
		b.Fatal("accept failed")
	}
	b.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

type listenerAdapter struct{ *Listener }

var benchCases = []struct {
	name string
	tcp  bool
	mode IATMode
}{
	{"tcp", true, 0},
	{"obfs4-iat0", false, IATNone},
	{"obfs4-iat1", false, IATEnabled},
}

// BenchmarkBulk streams 32 KiB writes one way; MB/s is payload.
func BenchmarkBulk(b *testing.B) { benchStream(b, 32<<10) }

// BenchmarkSmallMessages streams 100-byte messages one way, one Write
// each (a chat message inside the secure channel is about this size);
// ns/op is per message.
func BenchmarkSmallMessages(b *testing.B) { benchStream(b, 100) }

// benchStream streams writes of size bytes one way over each case's
// pair; the reader acknowledges the last byte with one of its own.
func benchStream(b *testing.B, size int64) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			c, s := benchPair(b, bc.tcp, bc.mode)
			buf := make([]byte, size)
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyN(io.Discard, s, int64(b.N)*size)
				if err == nil {
					_, err = s.Write([]byte{1})
				}
				done <- err
			}()
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRoundTrip sends a 100-byte request and waits for a 100-byte
// answer; ns/op is the round-trip time.
func BenchmarkRoundTrip(b *testing.B) {
	const size = 100
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			c, s := benchPair(b, bc.tcp, bc.mode)
			go func() {
				buf := make([]byte, size)
				for {
					if _, err := io.ReadFull(s, buf); err != nil {
						return
					}
					if _, err := s.Write(buf); err != nil {
						return
					}
				}
			}()
			msg := make([]byte, size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandshake measures one obfs4 dial (TCP connect, Elligator2
// key generation, ntor handshake) against the loopback Listener.
func BenchmarkHandshake(b *testing.B) {
	d, ln := newPair(b, IATNone)
	testnet.Serve(b, ln, func(c net.Conn) { c.Close() })
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := d.Dial(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
