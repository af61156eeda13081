package securechan

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/flynn/noise"
)

// The handshake (docs/spec/securechan.md, "Handshake"):
//
//	-> len || Noise IK msg1 = e, es, s, ss, AEAD(payload1)
//	   payload1 = offer || timestamp || ML-KEM-768 encapsulation key
//	              || [cookie extension] || padding
//	<- (under load) len || retry cookie; the client sends a new msg1 with it
//	<- len || Noise IK msg2 = e, ee, se, AEAD(payload2)
//	   payload2 = suite || ML-KEM-768 ciphertext || padding
//	-> first record (kind auth) = device public key || Ed25519 signature
var cipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)

const (
	// protocolName is the Noise prologue: both sides must agree on it, so a
	// peer speaking another version fails authentication.
	protocolName = "samizdat securechan v1"

	handshakeHeaderLen = 2
	// maxHandshakeLen caps a handshake message (bytes after the length),
	// and so the memory a probe can make the server allocate.
	maxHandshakeLen = 8192

	timestampLen  = 8
	payload1Min   = 1 + timestampLen + mlkem.EncapsulationKeySize768
	payload2Min   = 1 + mlkem.CiphertextSize768
	noiseMsg1Over = 32 + 32 + 16 + 16 // e, encrypted s, tag of s, tag of payload
	noiseMsg2Over = 32 + 16           // e, tag of payload
	// MinFirstMessageLen is the smallest framed first message, header included.
	MinFirstMessageLen = handshakeHeaderLen + noiseMsg1Over + payload1Min

	// cookieLen is the size of a retry cookie; retryLen the size of the
	// server's retry message (shorter than any msg2, so the client tells
	// them apart by length); extCookie tags the cookie extension of
	// payload1 (padding is zeros, so a zero byte means no extension).
	cookieLen = 16
	retryLen  = cookieLen
	extCookie = 0x01
	// maxRetries is how many retries a client follows in one handshake.
	maxRetries = 1

	// labelC2S and labelS2C name the record keys; Suite.keyLabels adds
	// the suite to them.
	labelC2S     = "samizdat securechan v1 client to server"
	labelS2C     = "samizdat securechan v1 server to client"
	labelSession = "samizdat securechan v1 session"
	labelAuth    = "samizdat securechan v1 device auth"
)

func noiseConfig(initiator bool, static noise.DHKey, peer []byte, rand io.Reader) noise.Config {
	return noise.Config{
		CipherSuite:   cipherSuite,
		Random:        rand,
		Pattern:       noise.HandshakeIK,
		Initiator:     initiator,
		Prologue:      []byte(protocolName),
		StaticKeypair: static,
		PeerStatic:    peer,
	}
}

// hello is the content of the client's first handshake payload.
type hello struct {
	offersAES bool   // AES-256-GCM records offered beside ChaCha20-Poly1305
	stamp     int64  // unix nanoseconds
	ek        []byte // ML-KEM-768 encapsulation key
	cookie    []byte // retry cookie, nil if none
}

// appendPayload1 builds the client's first handshake payload, with the
// cookie extension if h has a cookie. Its first byte is the offer: version
// 1's byte when AES is not offered, so such a payload is what every earlier
// client sent (docs/spec/securechan.md, "Handshake").
func appendPayload1(dst []byte, h hello, padding Padding) []byte {
	offer := byte(offerChaCha)
	if h.offersAES {
		offer = offerAES
	}
	dst = append(dst, offer)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.stamp))
	dst = append(dst, h.ek...)
	if h.cookie != nil {
		dst = append(append(dst, extCookie), h.cookie...)
	}
	return appendPadding(dst, padding, maxHandshakeLen-noiseMsg1Over)
}

// appendPayload2 builds the server's handshake payload, whose first byte
// is the chosen suite.
func appendPayload2(dst []byte, suite Suite, ct []byte, padding Padding) []byte {
	dst = append(dst, byte(suite))
	dst = append(dst, ct...)
	return appendPadding(dst, padding, maxHandshakeLen-noiseMsg2Over)
}

func appendPadding(dst []byte, padding Padding, limit int) []byte {
	if padding == nil {
		return dst
	}
	pad := min(max(padding(len(dst)), 0), limit-len(dst))
	for range pad {
		dst = append(dst, 0)
	}
	return dst
}

// parsePayload1 decodes a decrypted first payload (its slices point into
// p); padding is ignored.
func parsePayload1(p []byte) (hello, error) {
	if len(p) < payload1Min || (p[0] != offerChaCha && p[0] != offerAES) {
		return hello{}, fmt.Errorf("%w: bad first handshake payload", ErrMalformed)
	}
	h := hello{
		offersAES: p[0] == offerAES,
		stamp:     int64(binary.BigEndian.Uint64(p[1 : 1+timestampLen])),
		ek:        p[1+timestampLen : payload1Min],
	}
	if ext := p[payload1Min:]; len(ext) > 0 && ext[0] == extCookie {
		if len(ext) < 1+cookieLen {
			return hello{}, fmt.Errorf("%w: truncated cookie extension", ErrMalformed)
		}
		h.cookie = ext[1 : 1+cookieLen]
	}
	return h, nil
}

// parsePayload2 returns the suite and the ML-KEM ciphertext of a decrypted
// second payload. offeredAES is what the client offered: a server may
// choose AES-256-GCM only then.
func parsePayload2(p []byte, offeredAES bool) (Suite, []byte, error) {
	if len(p) < payload2Min {
		return 0, nil, fmt.Errorf("%w: bad second handshake payload", ErrMalformed)
	}
	suite := Suite(p[0])
	if suite != SuiteChaCha20Poly1305 && (suite != SuiteAES256GCM || !offeredAES) {
		return 0, nil, fmt.Errorf("%w: the server chose record suite %v, which was not offered", ErrMalformed, suite)
	}
	return suite, p[1:payload2Min], nil
}

// writeFrame writes a handshake message with its length prefix.
func writeFrame(w io.Writer, msg []byte) error {
	if len(msg) > maxHandshakeLen {
		return fmt.Errorf("%w: handshake message of %d bytes", ErrMalformed, len(msg))
	}
	frame := binary.BigEndian.AppendUint16(make([]byte, 0, handshakeHeaderLen+len(msg)), uint16(len(msg)))
	_, err := w.Write(append(frame, msg...))
	return err
}

// readFrame reads one length-prefixed handshake message of at most
// maxHandshakeLen bytes.
func readFrame(r io.Reader) ([]byte, error) {
	var h [handshakeHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[:]))
	if n > maxHandshakeLen {
		return nil, fmt.Errorf("%w: handshake message of %d bytes exceeds %d", ErrMalformed, n, maxHandshakeLen)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("truncated handshake message: %w", err)
	}
	return msg, nil
}

// sessionKeys are what both sides derive at the end of the handshake.
type sessionKeys struct {
	c2s, s2c  cipher.AEAD
	sessionID [32]byte
}

// deriveSessionKeys combines the Noise result and the ML-KEM shared secret
// (docs/spec/securechan.md, "Key schedule"):
//
//	prk = HKDF-Extract(SHA-256, salt = h, ikm = k_i2r || k_r2i || ss_mlkem)
//	key_c2s = HKDF-Expand(prk, the suite's c2s label, 32); key_s2c likewise
//	session_id = SHA-256(labelSession || h || ek || ct)
func deriveSessionKeys(h []byte, i2r, r2i *noise.CipherState, pqShared, ek, ct []byte, suite Suite) (*sessionKeys, error) {
	k1, k2 := i2r.UnsafeKey(), r2i.UnsafeKey()
	ikm := make([]byte, 0, 96)
	ikm = append(append(append(ikm, k1[:]...), k2[:]...), pqShared...)
	clear(k1[:])
	clear(k2[:])
	defer clear(ikm)
	prk, err := hkdf.Extract(sha256.New, ikm, h)
	if err != nil {
		return nil, fmt.Errorf("securechan: deriving keys: %w", err)
	}
	defer clear(prk)
	keys := &sessionKeys{}
	c2s, s2c := suite.keyLabels()
	for _, d := range []struct {
		label string
		aead  *cipher.AEAD
	}{{c2s, &keys.c2s}, {s2c, &keys.s2c}} {
		k, err := hkdf.Expand(sha256.New, prk, d.label, recordKeySize)
		if err != nil {
			return nil, fmt.Errorf("securechan: deriving keys: %w", err)
		}
		*d.aead, err = suite.newAEAD(k)
		clear(k)
		if err != nil {
			return nil, fmt.Errorf("securechan: deriving keys: %w", err)
		}
	}
	sid := sha256.New()
	sid.Write([]byte(labelSession))
	sid.Write(h)
	sid.Write(ek)
	sid.Write(ct)
	sid.Sum(keys.sessionID[:0])
	return keys, nil
}

// deviceAuthMessage is what the device key signs: a label that no other
// samizdat or MLS signature starts with, then the session id.
func deviceAuthMessage(sessionID [32]byte) []byte {
	return append([]byte(labelAuth), sessionID[:]...)
}

// watchHandshake applies ctx to conn for the duration of a handshake: its
// deadline becomes the connection's, and cancelling it interrupts blocked
// reads and writes. done clears the deadline and reports ctx's error if ctx
// ended the handshake.
func watchHandshake(ctx context.Context, conn net.Conn) (done func() error) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() error {
		if !stop() {
			<-fired
			return ctx.Err()
		}
		conn.SetDeadline(time.Time{})
		return nil
	}
}

// handshakeErr wraps an I/O error of the handshake, preferring ctx's error
// when ctx caused it.
func handshakeErr(ctx context.Context, doing string, err error) error {
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && ctxErr == nil && isTimeout(err) && !time.Now().Before(d) {
		// The connection deadline set from ctx fired before ctx's own timer.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("securechan: handshake: %s: %w (%w)", doing, ctxErr, err)
	}
	return fmt.Errorf("securechan: handshake: %s: %w", doing, err)
}
