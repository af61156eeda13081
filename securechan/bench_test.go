package securechan

import (
	"crypto/cipher"
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

// benchSuites are the record suites the benchmarks run, by the client's
// offer (the server takes AES-256-GCM whenever offered).
var benchSuites = []struct {
	suite Suite
	offer AESPolicy
}{{SuiteChaCha20Poly1305, AESNever}, {SuiteAES256GCM, AESAlways}}

// rawSealNsPerOp measures raw sealing of n bytes with the suite's AEAD in
// this run, the baseline the channel's costs are reported against.
var rawSeal sync.Map // rawSealKey -> float64 ns/op

type rawSealKey struct {
	suite Suite
	n     int
}

func rawSealNsPerOp(suite Suite, n int) float64 {
	if v, ok := rawSeal.Load(rawSealKey{suite, n}); ok {
		return v.(float64)
	}
	aead := benchAEAD(suite)
	msg := make([]byte, n)
	out := make([]byte, 0, n+tagLen)
	var nonce [chacha20poly1305.NonceSize]byte
	ns := timePerOp(func() {
		nonce[0]++
		out = aead.Seal(out[:0], nonce[:], msg, nil)
	})
	rawSeal.Store(rawSealKey{suite, n}, ns)
	return ns
}

// benchAEAD is the suite's AEAD under a fixed key.
func benchAEAD(suite Suite) cipher.AEAD {
	aead, err := suite.newAEAD(make([]byte, recordKeySize))
	if err != nil {
		panic(err)
	}
	return aead
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

var benchSizes = []int{1 << 10, 64 << 10, 256 << 10}

// sendLoop sends a message of n bytes with send for the benchmark's
// iterations and reports the cost per message as a multiple of raw
// sealing of the same bytes with the suite's AEAD (x-raw-seal), and the
// raw AEAD's own throughput measured in this run (raw-MB/s).
func sendLoop(b *testing.B, suite Suite, n int, send func([]byte) error) {
	raw := rawSealNsPerOp(suite, n)
	msg := make([]byte, n)
	b.SetBytes(int64(n))
	for b.Loop() {
		if err := send(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/raw, "x-raw-seal")
	b.ReportMetric(float64(n)/raw*1e3, "raw-MB/s")
}

// forEachSuiteAndSize runs bench as sub-benchmarks suite/size.
func forEachSuiteAndSize(b *testing.B, bench func(b *testing.B, suite Suite, offer AESPolicy, n int)) {
	for _, s := range benchSuites {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%v/%dKiB", s.suite, n>>10), func(b *testing.B) { bench(b, s.suite, s.offer, n) })
		}
	}
}

// BenchmarkSend is the sender's cost per message (framing, sealing, one
// write to a sink), as a multiple of raw sealing of the same bytes.
func BenchmarkSend(b *testing.B) {
	forEachSuiteAndSize(b, func(b *testing.B, suite Suite, _ AESPolicy, n int) {
		aead := benchAEAD(suite)
		c := newConn(discardConn{}, suite, aead, aead, DefaultMaxMessageSize, nil)
		sendLoop(b, suite, n, c.Send)
	})
}

// BenchmarkSendRecv is one message through a whole session over net.Pipe
// (sealed, written, read, opened, copied out), as a multiple of raw sealing
// with the session's AEAD. Its MB/s is the session's bulk throughput with
// both ends on this machine.
func BenchmarkSendRecv(b *testing.B) {
	forEachSuiteAndSize(b, func(b *testing.B, suite Suite, offer AESPolicy, n int) {
		f := newFixture(b, ServerConfig{AES: AESAlways})
		ccfg := f.clientConfig()
		ccfg.AES = offer
		cc, sc := net.Pipe()
		client, server, cerr, serr := f.pair(b, cc, sc, ccfg)
		if cerr != nil || serr != nil {
			b.Fatalf("handshake: client %v, server %v", cerr, serr)
		}
		if client.Suite() != suite {
			b.Fatalf("session uses %v, want %v", client.Suite(), suite)
		}
		done := make(chan error, 1)
		go func() {
			for {
				msg, err := server.Recv()
				if err != nil {
					if err == io.EOF {
						err = nil
					}
					done <- err
					return
				}
				ReleaseMessage(msg)
			}
		}()
		sendLoop(b, suite, n, client.Send)
		client.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		server.Close()
	})
}

// BenchmarkRawSeal is the baseline itself, for reference.
func BenchmarkRawSeal(b *testing.B) {
	forEachSuiteAndSize(b, func(b *testing.B, suite Suite, _ AESPolicy, n int) {
		aead := benchAEAD(suite)
		msg := make([]byte, n)
		out := make([]byte, 0, n+tagLen)
		var nonce [chacha20poly1305.NonceSize]byte
		b.SetBytes(int64(n))
		for b.Loop() {
			nonce[0]++
			out = aead.Seal(out[:0], nonce[:], msg, nil)
		}
	})
}

// sinkConn keeps what is written to it.
type sinkConn struct {
	net.Conn
	buf []byte
}

func (s *sinkConn) Write(b []byte) (int, error) { s.buf = append(s.buf, b...); return len(b), nil }

// replayConn reads back a recorded stream, up to 64 KiB a read (as a TCP
// socket hands a receiver what has arrived).
type replayConn struct {
	net.Conn
	buf []byte
}

func (r *replayConn) Read(b []byte) (int, error) {
	if len(r.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), 64<<10)], r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// BenchmarkRecvChunkFrame is the receiver's cost of one 256 KiB file
// chunk's frame (five AES-256-GCM records) read from a replayed stream,
// opened and reassembled, and released, as the server takes a PutChunk:
// what the server's reader does per chunk besides the wire read itself.
func BenchmarkRecvChunkFrame(b *testing.B) {
	const frames, n = 64, 256<<10 + 48
	aead := benchAEAD(SuiteAES256GCM)
	sink := &sinkConn{}
	sender := newConn(sink, SuiteAES256GCM, aead, aead, DefaultMaxMessageSize, PadToMultiple(256))
	msg := make([]byte, n)
	for range frames {
		if err := sender.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	var c *Conn
	left := 0
	b.SetBytes(n)
	for b.Loop() {
		if left == 0 {
			c, left = newConn(&replayConn{buf: sink.buf}, SuiteAES256GCM, aead, aead, DefaultMaxMessageSize, nil), frames
		}
		got, err := c.Recv()
		if err != nil || len(got) != n {
			b.Fatalf("Recv: %d bytes, %v", len(got), err)
		}
		ReleaseMessage(got)
		left--
	}
}
