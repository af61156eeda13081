package securechan

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/flynn/noise"
)

// TestSuiteNegotiation: AES-256-GCM only when the client offers it and the
// server takes it, ChaCha20-Poly1305 otherwise (a client that offered no AES
// gets ChaCha20-Poly1305 even from a server that would use AES), the same
// suite on both ends, and messages cross either way.
func TestSuiteNegotiation(t *testing.T) {
	auto := SuiteChaCha20Poly1305
	if HardwareAES() {
		auto = SuiteAES256GCM
	}
	for _, tc := range []struct {
		client, server AESPolicy
		want           Suite
	}{
		{AESAlways, AESAlways, SuiteAES256GCM},
		{AESNever, AESAlways, SuiteChaCha20Poly1305},
		{AESAlways, AESNever, SuiteChaCha20Poly1305},
		{AESNever, AESNever, SuiteChaCha20Poly1305},
		{AESAuto, AESAuto, auto},
	} {
		t.Run(fmt.Sprintf("client-%v-server-%v", tc.client, tc.server), func(t *testing.T) {
			f := newFixture(t, ServerConfig{AES: tc.server})
			ccfg := f.clientConfig()
			ccfg.AES = tc.client
			cc, sc := net.Pipe()
			client, server, cerr, serr := f.pair(t, cc, sc, ccfg)
			if cerr != nil || serr != nil {
				t.Fatalf("handshake: client %v, server %v", cerr, serr)
			}
			if client.Suite() != tc.want || server.Suite() != tc.want {
				t.Fatalf("client uses %v, server %v; want %v", client.Suite(), server.Suite(), tc.want)
			}
			exchange(t, client, server, []int{0, maxRecordData + 1})
			exchange(t, server, client, []int{100, 3 * maxRecordData})
			shutdown(t, client, server)
		})
	}
}

// flipConn is a man in the middle on one direction: it XORs mask into byte
// at of the first write (a whole handshake frame: writeFrame writes it at
// once) and passes everything else on unchanged.
type flipConn struct {
	net.Conn
	at      int
	mask    byte
	flipped bool
}

func (c *flipConn) Write(b []byte) (int, error) {
	if !c.flipped && len(b) > c.at {
		c.flipped = true
		b = bytes.Clone(b)
		b[c.at] ^= c.mask
	}
	return c.Conn.Write(b)
}

// Where the suite bytes sit in the framed handshake messages: payload1
// follows e (32) and the encrypted s (32 + 16); payload2 follows e. Noise's
// ChaChaPoly encrypts by XOR, so flipping offerChaCha^offerAES there flips
// the offer or the choice in the plaintext; only the payload's tag stops it.
const (
	offerAt  = handshakeHeaderLen + 32 + 48
	choiceAt = handshakeHeaderLen + 32
)

// TestAdversarySuiteRewriteFailsHandshake: a man in the middle who rewrites
// the client's offer (to strip AES, or to add it) or the server's choice
// makes the handshake fail as not authentic; the session never comes up
// with a suite the two ends did not agree on. The control shows the
// untampered handshakes negotiate the suite the attacker tries to change.
func TestAdversarySuiteRewriteFailsHandshake(t *testing.T) {
	const mask = offerChaCha ^ offerAES // == SuiteChaCha20Poly1305 ^ SuiteAES256GCM
	for _, tc := range []struct {
		name          string
		client        AESPolicy
		untampered    Suite
		offer, choice bool
	}{
		{"strip the client's AES offer", AESAlways, SuiteAES256GCM, true, false},
		{"add an AES offer", AESNever, SuiteChaCha20Poly1305, true, false},
		{"rewrite the server's AES choice to ChaCha20", AESAlways, SuiteAES256GCM, false, true},
		{"rewrite the server's ChaCha20 choice to AES", AESNever, SuiteChaCha20Poly1305, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, ServerConfig{AES: AESAlways})
			ccfg := f.clientConfig()
			ccfg.AES = tc.client

			cc, sc := net.Pipe()
			client, server, cerr, serr := f.pair(t, cc, sc, ccfg)
			if cerr != nil || serr != nil || client.Suite() != tc.untampered {
				t.Fatalf("control: client %v, server %v, suite %v; want %v", cerr, serr, client.Suite(), tc.untampered)
			}
			shutdown(t, client, server)

			cc, sc = net.Pipe()
			var cside, sside net.Conn = cc, sc
			if tc.offer {
				cside = &flipConn{Conn: cc, at: offerAt, mask: mask}
			}
			if tc.choice {
				sside = &flipConn{Conn: sc, at: choiceAt, mask: mask}
			}
			client, server, cerr, serr = f.pair(t, cside, sside, ccfg)
			if client != nil || server != nil {
				t.Fatalf("tampered handshake came up: client suite %v, server suite %v", suiteOf(client), suiteOf(server))
			}
			wantNotAuthentic := serr
			if tc.choice {
				wantNotAuthentic = cerr
			}
			if !errors.Is(wantNotAuthentic, ErrNotAuthentic) {
				t.Fatalf("client %v, server %v; want ErrNotAuthentic from the side that read the rewritten message", cerr, serr)
			}
		})
	}
}

func suiteOf(c *Conn) Suite {
	if c == nil {
		return 0
	}
	return c.Suite()
}

// handshakeSecrets are made-up results of a handshake, to derive session
// keys from outside one.
type handshakeSecrets struct {
	h, k1, k2, pq, ek, ct []byte
}

func newHandshakeSecrets(seed uint64) handshakeSecrets {
	r := seeded(seed)
	read := func(n int) []byte {
		b := make([]byte, n)
		r.Read(b)
		return b
	}
	return handshakeSecrets{h: read(32), k1: read(32), k2: read(32), pq: read(32), ek: read(8), ct: read(8)}
}

func (s handshakeSecrets) derive(t *testing.T, suite Suite) *sessionKeys {
	t.Helper()
	i2r := noise.UnsafeNewCipherState(cipherSuite, [32]byte(s.k1), 0)
	r2i := noise.UnsafeNewCipherState(cipherSuite, [32]byte(s.k2), 0)
	keys, err := deriveSessionKeys(s.h, i2r, r2i, s.pq, s.ek, s.ct, suite)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestAdversaryRecordKeysAreBoundToSuite recomputes the key schedule from
// docs/spec/securechan.md ("Key schedule") for each suite and each record
// key label: a session's record key opens what it should only under its
// own suite's label, so the same key never serves both AEADs (AES-256-GCM
// with a ChaCha20-Poly1305 key, or the reverse).
func TestAdversaryRecordKeysAreBoundToSuite(t *testing.T) {
	s := newHandshakeSecrets(11)
	prk, err := hkdf.Extract(sha256.New, bytes.Join([][]byte{s.k1, s.k2, s.pq}, nil), s.h)
	if err != nil {
		t.Fatal(err)
	}
	specLabels := map[Suite][2]string{
		SuiteChaCha20Poly1305: {"samizdat securechan v1 client to server", "samizdat securechan v1 server to client"},
		SuiteAES256GCM:        {"samizdat securechan v1 client to server AES-256-GCM", "samizdat securechan v1 server to client AES-256-GCM"},
	}
	for suite := range specLabels {
		keys := s.derive(t, suite)
		for other, labels := range specLabels {
			for dir, label := range labels {
				k, err := hkdf.Expand(sha256.New, prk, label, recordKeySize)
				if err != nil {
					t.Fatal(err)
				}
				aead, err := suite.newAEAD(k)
				if err != nil {
					t.Fatal(err)
				}
				rec := sealRecord(nil, aead, 0, kindDataLast, []byte("hello"), 0)
				recv := keys.c2s
				if dir == 1 {
					recv = keys.s2c
				}
				_, _, err = openRecord(recv, 0, rec[:recordHeaderLen], rec[recordHeaderLen:])
				if want := other == suite; (err == nil) != want {
					t.Errorf("%v session: a key labelled %q opens its records: %v, want %v", suite, label, err == nil, want)
				}
			}
		}
	}
}

// TestAdversaryCrossSuiteRecordsFail: records sealed by a session of one
// suite, fed to a session of the other suite derived from the same
// handshake, fail with ErrRecordAuth (and end that session); the control
// shows the same bytes open under their own suite.
func TestAdversaryCrossSuiteRecordsFail(t *testing.T) {
	s := newHandshakeSecrets(12)
	keys := map[Suite]*sessionKeys{
		SuiteChaCha20Poly1305: s.derive(t, SuiteChaCha20Poly1305),
		SuiteAES256GCM:        s.derive(t, SuiteAES256GCM),
	}
	for sealer, sk := range keys {
		var wire recordingConn
		wire.Conn = discardConn{}
		sender := newConn(&wire, sealer, sk.c2s, sk.s2c, DefaultMaxMessageSize, nil)
		if err := sender.Send([]byte("a message")); err != nil {
			t.Fatal(err)
		}
		for opener, ok := range keys {
			receiver := newConn(&bytesConn{r: bytes.NewReader(wire.bytes())}, opener, ok.s2c, ok.c2s, DefaultMaxMessageSize, nil)
			msg, err := receiver.Recv()
			if opener == sealer {
				if err != nil || string(msg) != "a message" {
					t.Fatalf("control: %v record read by a %v session: %q, %v", sealer, opener, msg, err)
				}
				continue
			}
			if !errors.Is(err, ErrRecordAuth) {
				t.Fatalf("%v record read by a %v session: %q, %v; want ErrRecordAuth", sealer, opener, msg, err)
			}
			if _, err := receiver.Recv(); !errors.Is(err, ErrRecordAuth) {
				t.Fatalf("after a failed record, Recv = %v; want the sticky ErrRecordAuth", err)
			}
		}
	}
}

// TestAESRecordLimit: an AES-256-GCM session stops sealing after
// aesGCMMaxRecords records (the key's usage limit) and says to reconnect;
// a ChaCha20-Poly1305 session goes on.
func TestAESRecordLimit(t *testing.T) {
	s := newHandshakeSecrets(13)
	for suite, wantFail := range map[Suite]bool{SuiteAES256GCM: true, SuiteChaCha20Poly1305: false} {
		keys := s.derive(t, suite)
		c := newConn(discardConn{}, suite, keys.c2s, keys.s2c, DefaultMaxMessageSize, nil)
		c.sendSeq = aesGCMMaxRecords - 1
		if err := c.Send([]byte("last")); err != nil {
			t.Fatalf("%v: record %d: %v", suite, c.sendSeq, err)
		}
		err := c.Send([]byte("one too many"))
		if (err != nil) != wantFail {
			t.Fatalf("%v: record %d: %v; want failure %v", suite, aesGCMMaxRecords, err, wantFail)
		}
	}
}

// TestHardwareAESOnlyOnAMD64AndARM64: AES is offered only where Go runs it
// in hardware; never on js/wasm (the web app) or other architectures, even
// if a feature flag were somehow set.
func TestHardwareAESOnlyOnAMD64AndARM64(t *testing.T) {
	for _, tc := range []struct {
		arch       string
		x86, arm64 bool
		want       bool
	}{
		{"amd64", true, false, true},
		{"amd64", false, true, false},
		{"arm64", false, true, true},
		{"arm64", true, false, false},
		{"wasm", true, true, false},
		{"386", true, true, false},
		{"riscv64", true, true, false},
	} {
		if got := aesHardware(tc.arch, tc.x86, tc.arm64); got != tc.want {
			t.Errorf("aesHardware(%s, x86 %v, arm64 %v) = %v, want %v", tc.arch, tc.x86, tc.arm64, got, tc.want)
		}
	}
	// On the architecture running the test (the web app's js/wasm build
	// included, under GOOS=js GOARCH=wasm go test with node).
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" && (HardwareAES() || AESAuto.enabled()) {
		t.Errorf("HardwareAES() is true on %s", runtime.GOARCH)
	}
}
