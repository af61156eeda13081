package tlsws

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
)

// Throughput of direct and tlsws over loopback, for the relay's benchmarks
// to compare with:
//
//	go test -run XXX -bench . -benchtime 3s ./transport/tlsws
//
// Bulk writes 64 KiB at a time; Small writes 100-byte messages, one Write
// each. Both stream one way into a server that counts the bytes and answers
// one byte when it has them all, so the time covers delivery.

func benchPair(b testing.TB, name string) (transport.Dialer, transport.Listener) {
	switch name {
	case "direct":
		ln, err := direct.Listen("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		return direct.NewDialer(ln.Addr().String()), ln
	case "standalone":
		cover := testnet.ServeTCP(b, testnet.Discard(time.Minute)) // takes unmarked connections and says nothing
		cert, err := SelfSigned("relay.example")
		if err != nil {
			b.Fatal(err)
		}
		secret := []byte("bench-secret-0123456789abcdef")
		ln, err := ListenStandalone(StandaloneConfig{Addr: "127.0.0.1:0", Secret: secret, CoverAddr: cover, Certificate: &cert})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		d, err := NewDialer(DialConfig{Addr: ln.Addr().String(), Host: "relay.example", Secret: secret, Pin: PinOf(cert.Leaf)})
		if err != nil {
			b.Fatal(err)
		}
		return d, ln
	default:
		ln, cfg := testServer(b)
		d, err := NewDialer(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return d, ln
	}
}

// sink reads an 8-byte length, then that many bytes, then answers one byte.
func sink(ln transport.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var hdr [8]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			n := int64(binary.BigEndian.Uint64(hdr[:]))
			if _, err := io.CopyN(io.Discard, c, n); err != nil {
				return
			}
			c.Write([]byte{1})
		}()
	}
}

func stream(b *testing.B, name string, msgSize int) {
	d, ln := benchPair(b, name)
	go sink(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, msgSize)
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(b.N*msgSize))
	b.SetBytes(int64(msgSize))
	b.ResetTimer()
	start := time.Now()
	if _, err := c.Write(hdr[:]); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func BenchmarkBulk64KiB(b *testing.B) {
	for _, name := range []string{"direct", "tlsws", "standalone"} {
		b.Run(name, func(b *testing.B) { stream(b, name, 64<<10) })
	}
}

func BenchmarkSmall100B(b *testing.B) {
	for _, name := range []string{"direct", "tlsws"} {
		b.Run(name, func(b *testing.B) { stream(b, name, 100) })
	}
}

// BenchmarkRoundTrip100B is request/response latency: 100 bytes out, echoed back.
func BenchmarkRoundTrip100B(b *testing.B) {
	for _, name := range []string{"direct", "tlsws"} {
		b.Run(name, func(b *testing.B) {
			d, ln := benchPair(b, name)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { defer c.Close(); io.Copy(c, c) }()
				}
			}()
			c, err := d.Dial(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msg, got := make([]byte, 100), make([]byte, 100)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Write(msg)
				if _, err := io.ReadFull(c, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var _ net.Conn = (*wsConn)(nil)

// BenchmarkBulkNewConn64MiB is the relay benchmark's bulk case: each op
// dials a new tunnel and sends 64 MiB through it, so the opening's replay
// (shape.go) is part of the time, as it is for a real upload:
//
//	go test -run XXX -bench BulkNewConn -benchtime 10x ./transport/tlsws
func BenchmarkBulkNewConn64MiB(b *testing.B) {
	for _, name := range []string{"tlsws", "standalone"} {
		b.Run(name, func(b *testing.B) {
			d, ln := benchPair(b, name)
			go sink(ln)
			const size = 64 << 20
			buf := make([]byte, 64<<10)
			b.SetBytes(size)
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := d.Dial(ctx)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				var hdr [8]byte
				binary.BigEndian.PutUint64(hdr[:], size)
				c.Write(hdr[:])
				for sent := 0; sent < size; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
