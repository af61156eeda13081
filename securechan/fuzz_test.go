package securechan

import (
	"bytes"
	"context"
	"crypto/cipher"
	"net"
	"testing"
	"time"
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
	for _, offer := range []AESPolicy{AESNever, AESAlways} {
		ccfg := fx.clientConfig()
		ccfg.AES = offer
		w := fx.clientBytes(f, ccfg, "handshake")
		m, _ := FirstMessageLen(w)
		f.Add(w[:m])
	}
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

// FuzzRecordDecoder feeds arbitrary bytes to a session's record reader,
// under either suite (aes picks AES-256-GCM): no panic, and no message is
// ever accepted from bytes not sealed with the key.
func FuzzRecordDecoder(f *testing.F) {
	aeads := map[bool]cipher.AEAD{}
	for _, aes := range []bool{false, true} {
		aeads[aes] = benchAEAD(fuzzSuite(aes))
		var seed []byte
		for i, kind := range []byte{kindDataLast, kindData, kindDataLast, kindPad, kindClose} {
			seed = sealRecord(seed, aeads[aes], uint64(i), kind, []byte("fragment"), i)
		}
		f.Add(seed, aes)
		f.Add(seed[:len(seed)-1], aes)
	}
	f.Add([]byte{0, 19}, false)
	f.Add([]byte{0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, b []byte, aes bool) {
		c := newConn(&bytesConn{r: bytes.NewReader(b)}, fuzzSuite(aes), aeads[aes], aeads[aes], 1<<16, nil)
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

func fuzzSuite(aes bool) Suite {
	if aes {
		return SuiteAES256GCM
	}
	return SuiteChaCha20Poly1305
}

// FuzzPayload1 decodes first payloads, with and without the retry cookie
// extension and the AES offer: never a panic, a decoded cookie is always
// cookieLen bytes taken from the payload, and re-encoding what was decoded
// gives the payload back (so the offer is exactly the first byte).
func FuzzPayload1(f *testing.F) {
	ek := make([]byte, payload1Min-1-timestampLen)
	stamp := time.Unix(1_700_000_000, 0).UnixNano()
	cookie := bytes.Repeat([]byte{7}, cookieLen)
	for _, aes := range []bool{false, true} {
		f.Add(appendPayload1(nil, hello{offersAES: aes, stamp: stamp, ek: ek}, nil))
		f.Add(appendPayload1(nil, hello{offersAES: aes, stamp: stamp, ek: ek, cookie: cookie}, nil))
		f.Add(appendPayload1(nil, hello{offersAES: aes, stamp: stamp, ek: ek, cookie: cookie}, PadToMultiple(512)))
		f.Add(append(appendPayload1(nil, hello{offersAES: aes, stamp: stamp, ek: ek}, nil), extCookie, 1, 2))
	}
	f.Add([]byte{offerChaCha})
	f.Add([]byte{offerAES})
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := parsePayload1(p)
		if err != nil {
			return
		}
		if len(h.ek) != len(ek) || (h.cookie != nil && len(h.cookie) != cookieLen) {
			t.Fatalf("decoded ek %d bytes, cookie %d bytes", len(h.ek), len(h.cookie))
		}
		if h.offersAES != (p[0] == offerAES) {
			t.Fatalf("first byte %#02x decoded as offersAES %v", p[0], h.offersAES)
		}
		again := appendPayload1(nil, h, nil)
		if !bytes.Equal(again, p[:len(again)]) {
			t.Fatal("re-encoding a decoded payload differs from its input")
		}
	})
}

// FuzzPayload2 decodes second payloads against either offer: never a
// panic, AES-256-GCM only when it was offered, ChaCha20-Poly1305 always
// acceptable, and the suite is exactly the first byte.
func FuzzPayload2(f *testing.F) {
	ct := make([]byte, payload2Min-1)
	for _, suite := range []Suite{SuiteChaCha20Poly1305, SuiteAES256GCM, 0, 3, 0xff} {
		f.Add(appendPayload2(nil, suite, ct, nil), true)
		f.Add(appendPayload2(nil, suite, ct, PadToMultiple(512)), false)
	}
	f.Add([]byte{byte(SuiteAES256GCM)}, true)
	f.Fuzz(func(t *testing.T, p []byte, offeredAES bool) {
		suite, gotCT, err := parsePayload2(p, offeredAES)
		if err != nil {
			return
		}
		if Suite(p[0]) != suite || len(gotCT) != len(ct) {
			t.Fatalf("first byte %#02x decoded as %v with a %d-byte ciphertext", p[0], suite, len(gotCT))
		}
		if suite != SuiteChaCha20Poly1305 && (suite != SuiteAES256GCM || !offeredAES) {
			t.Fatalf("accepted %v when AES offered = %v", suite, offeredAES)
		}
	})
}
