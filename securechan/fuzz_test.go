package securechan

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// bytesConn is a net.Conn that reads from a fixed buffer and discards writes.
type bytesConn struct {
	r *bytes.Reader
}

func (c *bytesConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *bytesConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServerFirstMessage feeds arbitrary first bytes to the server's
// handshake reader and to CheckFirstMessage: they must never panic, and the
// two must agree on whether a first message is acceptable.
func FuzzServerFirstMessage(f *testing.F) {
	fx := newFixture(f, ServerConfig{})
	valid := fx.clientBytes(f, fx.clientConfig(), "handshake")
	n, _ := FirstMessageLen(valid)
	f.Add(valid[:n])
	f.Add(valid)
	f.Add(valid[:n-1])
	f.Add([]byte{})
	f.Add([]byte{0x05})
	f.Add([]byte{0xff, 0xff, 1, 2, 3})
	f.Add(bytes.Repeat([]byte{0x16, 0x03, 0x01}, 100))
	f.Fuzz(func(t *testing.T, b []byte) {
		// A fresh server with the same key and clock, so a valid seed is
		// not a replay.
		s, err := NewServer(ServerConfig{Key: fx.key, Now: fx.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		checkErr := s.CheckFirstMessage(b)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, acceptErr := s.Accept(ctx, &bytesConn{r: bytes.NewReader(b)})
		if checkErr == nil && acceptErr == nil {
			t.Fatal("Accept succeeded without a device authentication record")
		}
		if checkErr != nil && acceptErr == nil {
			t.Fatalf("CheckFirstMessage refused (%v) what Accept took", checkErr)
		}
	})
}

// FuzzRecordDecoder feeds arbitrary bytes to a session's record reader: no
// panic, and no message is ever accepted from bytes not sealed with the key.
func FuzzRecordDecoder(f *testing.F) {
	key := make([]byte, chacha20poly1305.KeySize)
	aead, _ := chacha20poly1305.New(key)
	var seed []byte
	for i, kind := range []byte{kindDataLast, kindData, kindDataLast, kindPad, kindClose} {
		seed = sealRecord(seed, aead, uint64(i), kind, []byte("fragment"), i)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add([]byte{0, 19})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := newConn(&bytesConn{r: bytes.NewReader(b)}, aead, aead, 1<<16, nil)
		for range 64 {
			if _, err := c.Recv(); err != nil {
				break
			}
		}
		// The inner parser on its own, which the AEAD shields from mutations.
		if kind, data, err := parseInner(b); err == nil {
			if kind < kindAuth || kind > kindPad || len(data) > len(b)-innerHeaderLen {
				t.Fatalf("parseInner accepted kind %d with %d data bytes from %d", kind, len(data), len(b))
			}
		}
	})
}

// FuzzPayload1 decodes first payloads, with and without the retry cookie
// extension: never a panic, and a decoded cookie is always cookieLen bytes
// taken from the payload.
func FuzzPayload1(f *testing.F) {
	ek := make([]byte, payload1Min-1-timestampLen)
	now := time.Unix(1_700_000_000, 0)
	f.Add(appendPayload1(nil, now, ek, nil, nil))
	f.Add(appendPayload1(nil, now, ek, bytes.Repeat([]byte{7}, cookieLen), nil))
	f.Add(appendPayload1(nil, now, ek, bytes.Repeat([]byte{7}, cookieLen), PadToMultiple(512)))
	f.Add(append(appendPayload1(nil, now, ek, nil, nil), extCookie, 1, 2))
	f.Add([]byte{version})
	f.Fuzz(func(t *testing.T, p []byte) {
		stamp, gotEK, cookie, err := parsePayload1(p)
		if err != nil {
			return
		}
		if len(gotEK) != len(ek) || (cookie != nil && len(cookie) != cookieLen) {
			t.Fatalf("decoded ek %d bytes, cookie %d bytes", len(gotEK), len(cookie))
		}
		again := appendPayload1(nil, time.Unix(0, stamp), gotEK, cookie, nil)
		if !bytes.Equal(again, p[:len(again)]) {
			t.Fatal("re-encoding a decoded payload differs from its input")
		}
	})
}
