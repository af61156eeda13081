package securechan

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// rawSealNsPerOp measures raw ChaCha20-Poly1305 sealing of n bytes in this
// run, the baseline the channel's costs are reported against.
var rawSeal sync.Map // n -> float64 ns/op

func rawSealNsPerOp(n int) float64 {
	if v, ok := rawSeal.Load(n); ok {
		return v.(float64)
	}
	aead, _ := chacha20poly1305.New(make([]byte, chacha20poly1305.KeySize))
	msg := make([]byte, n)
	out := make([]byte, 0, n+chacha20poly1305.Overhead)
	var nonce [chacha20poly1305.NonceSize]byte
	ns := timePerOp(func() {
		nonce[0]++
		out = aead.Seal(out[:0], nonce[:], msg, nil)
	})
	rawSeal.Store(n, ns)
	return ns
}

// x25519NsPerOp measures one X25519 key agreement in this run.
func x25519NsPerOp() float64 {
	a, _ := ecdh.X25519().GenerateKey(rand.Reader)
	peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	return timePerOp(func() { a.ECDH(peer.PublicKey()) })
}

// timePerOp runs op for about 200ms and returns its mean cost in ns. (A
// nested testing.Benchmark would deadlock inside a benchmark.)
func timePerOp(op func()) float64 {
	n := 0
	start := time.Now()
	for time.Since(start) < 200*time.Millisecond {
		for range 64 {
			op()
		}
		n += 64
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// BenchmarkHandshake is one complete handshake (both sides, over net.Pipe),
// reported also in multiples of one X25519 operation.
func BenchmarkHandshake(b *testing.B) {
	dh := x25519NsPerOp()
	f := newFixture(b, ServerConfig{ReplayCacheSize: 1 << 20})
	ccfg := f.clientConfig()
	ccfg.Now = nil
	f.server.now = nil
	s, _ := NewServer(ServerConfig{Key: f.key, ReplayCacheSize: 1 << 20})
	f.server = s
	for b.Loop() {
		cc, sc := net.Pipe()
		client, server, cerr, serr := f.pair(b, cc, sc, ccfg)
		if cerr != nil || serr != nil {
			b.Fatalf("handshake: client %v, server %v", cerr, serr)
		}
		cc.Close()
		sc.Close()
		_, _ = client, server
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/dh, "x-X25519")
}

// discardConn swallows writes.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }

var benchSizes = []int{1 << 10, 64 << 10}

// sendLoop sends a message of n bytes with send for the benchmark's
// iterations and reports the cost per message as a multiple of raw
// sealing of the same bytes (x-raw-seal).
func sendLoop(b *testing.B, n int, send func([]byte) error) {
	raw := rawSealNsPerOp(n)
	msg := make([]byte, n)
	b.SetBytes(int64(n))
	for b.Loop() {
		if err := send(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/raw, "x-raw-seal")
}

// BenchmarkSend is the sender's cost per message (framing, sealing, one
// write to a sink), as a multiple of raw sealing of the same bytes.
func BenchmarkSend(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			aead, _ := chacha20poly1305.New(make([]byte, chacha20poly1305.KeySize))
			c := newConn(discardConn{}, SuiteChaCha20Poly1305, aead, aead, DefaultMaxMessageSize, nil)
			sendLoop(b, n, c.Send)
		})
	}
}

// BenchmarkSendRecv is one message through a whole session over net.Pipe
// (sealed, written, read, opened, copied out), as a multiple of raw sealing.
func BenchmarkSendRecv(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			f := newFixture(b, ServerConfig{})
			cc, sc := net.Pipe()
			client, server := mustPair(b, f, cc, sc)
			done := make(chan error, 1)
			go func() {
				for {
					if _, err := server.Recv(); err != nil {
						if err == io.EOF {
							err = nil
						}
						done <- err
						return
					}
				}
			}()
			sendLoop(b, n, client.Send)
			client.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			server.Close()
		})
	}
}

// BenchmarkRawSeal is the baseline itself, for reference.
func BenchmarkRawSeal(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			aead, _ := chacha20poly1305.New(make([]byte, chacha20poly1305.KeySize))
			msg := make([]byte, n)
			out := make([]byte, 0, n+chacha20poly1305.Overhead)
			var nonce [chacha20poly1305.NonceSize]byte
			b.SetBytes(int64(n))
			for b.Loop() {
				nonce[0]++
				out = aead.Seal(out[:0], nonce[:], msg, nil)
			}
		})
	}
}
