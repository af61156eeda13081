package securechan

import (
	"bytes"
	"crypto/cipher"
	"crypto/mlkem"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/flynn/noise"
	"golang.org/x/crypto/curve25519"
)

// tapeReader records every read of the client's randomness, so that the
// test can hand the attacker the client's private keys.
type tapeReader struct {
	r     io.Reader
	reads [][]byte
}

func (t *tapeReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(t.r, p)
	t.reads = append(t.reads, bytes.Clone(p[:n]))
	return n, err
}

// splitWire cuts a recorded direction into its handshake frame and the
// records that follow (header, ciphertext).
func splitWire(t *testing.T, b []byte) (frame []byte, records [][2][]byte) {
	t.Helper()
	n := int(binary.BigEndian.Uint16(b))
	frame, b = b[2:2+n], b[2+n:]
	for len(b) > 0 {
		if len(b) < recordHeaderLen {
			t.Fatal("truncated record header")
		}
		n := int(binary.BigEndian.Uint16(b))
		records = append(records, [2][]byte{b[:2], b[2 : 2+n]})
		b = b[2+n:]
	}
	return frame, records
}

// TestAdversaryClassicalSecretsDoNotRevealSessionKeys: an attacker who
// recorded a session and later learns every classical secret of its
// handshake (the client's static and ephemeral X25519 private keys and the
// server's static key; with them it recomputes the Noise split keys and
// handshake hash, which the server's ephemeral key would not add to) still
// cannot derive the session keys without the ML-KEM shared secret
// (docs/spec/securechan.md, "Key schedule"; "How the post-quantum property
// is tested"). A positive control with the ML-KEM secret shows the
// attacker's reconstruction is otherwise exact.
func TestAdversaryClassicalSecretsDoNotRevealSessionKeys(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	const secret = "meet at the north gate"
	rec := recordPQSession(t, f, secret)
	cl := replayClassically(t, f, rec)

	// Positive control: with the ML-KEM secret the reconstruction reads
	// the recorded traffic.
	dk, err := mlkem.NewDecapsulationKey768(rec.mlkemSeed)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dk.Decapsulate(cl.ct)
	if err != nil {
		t.Fatal(err)
	}
	if ok, got := cl.opens(t, rec, ss); !ok || got != secret {
		t.Fatalf("control: the attacker's reconstruction with the ML-KEM secret does not read the session (%v, %q)", ok, got)
	}
	// The attack: every classical secret, and a guess for ML-KEM.
	other, err := mlkem.GenerateKey768()
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := other.Decapsulate(cl.ct) // implicit rejection: a random-looking secret
	if err != nil {
		t.Fatal(err)
	}
	for name, guess := range map[string][]byte{"no ML-KEM secret": nil, "zero ML-KEM secret": make([]byte, 32), "another key's ML-KEM secret": wrong} {
		if ok, got := cl.opens(t, rec, guess); ok {
			t.Errorf("%s: the attacker read the session with classical secrets only: %q", name, got)
		}
	}
}

// pqRecording is a session as a recording attacker holds it, with every
// secret the client drew.
type pqRecording struct {
	msg1, msg2                     []byte      // the handshake messages
	c2s, s2c                       [][2][]byte // the records: header, ciphertext
	staticPriv, mlkemSeed, ephPriv []byte
}

// recordPQSession runs a session in which the client sends secret and the
// server answers, and returns the recorded traffic and the client's
// randomness.
func recordPQSession(t *testing.T, f *fixture, secret string) *pqRecording {
	t.Helper()
	tape := &tapeReader{r: seeded(7)}
	ccfg := f.clientConfig()
	ccfg.Rand = tape
	cc, sc := net.Pipe()
	crec, srec := &recordingConn{Conn: cc}, &recordingConn{Conn: sc}
	client, server, cerr, serr := f.pair(t, crec, srec, ccfg)
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	go client.Send([]byte(secret))
	if got, err := server.Recv(); err != nil || string(got) != secret {
		t.Fatalf("Recv: %q, %v", got, err)
	}
	go server.Send([]byte("ok"))
	if _, err := client.Recv(); err != nil {
		t.Fatal(err)
	}
	cc.Close()
	sc.Close()

	rec := &pqRecording{}
	rec.msg1, rec.c2s = splitWire(t, crec.bytes())
	rec.msg2, rec.s2c = splitWire(t, srec.bytes())
	if len(rec.c2s) < 2 || len(rec.s2c) < 1 {
		t.Fatalf("recorded %d client and %d server records", len(rec.c2s), len(rec.s2c))
	}
	// The client drew, in order: its static X25519 key, the ML-KEM seed,
	// its ephemeral X25519 key (client.go). The ephemeral public key is the
	// first 32 bytes of msg1, which checks the reading.
	if len(tape.reads) != 3 || len(tape.reads[0]) != 32 || len(tape.reads[1]) != mlkem.SeedSize || len(tape.reads[2]) != 32 {
		t.Fatalf("client randomness reads changed shape: %d reads; update this test", len(tape.reads))
	}
	rec.staticPriv, rec.mlkemSeed, rec.ephPriv = tape.reads[0], tape.reads[1], tape.reads[2]
	if !bytes.Equal(x25519Pair(t, rec.ephPriv).Public, rec.msg1[:32]) {
		t.Fatal("the tape's third read is not the client's ephemeral key")
	}
	return rec
}

func x25519Pair(t *testing.T, priv []byte) noise.DHKey {
	t.Helper()
	pub, err := curve25519.X25519(priv, curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	return noise.DHKey{Private: priv, Public: pub}
}

// classicalView is what the attacker derives from the classical secrets:
// the Noise split keys and handshake hash, and the ML-KEM exchange.
type classicalView struct {
	h        []byte
	i2r, r2i *noise.CipherState
	ek, ct   []byte
	suite    Suite
}

// replayClassically decrypts msg1 with the server's static key and replays
// the client's side with its static and ephemeral keys: the same msg1,
// then msg2 yields the split keys and h.
func replayClassically(t *testing.T, f *fixture, rec *pqRecording) *classicalView {
	t.Helper()
	serverKP := x25519Pair(t, f.key.Bytes())
	resp, err := noise.NewHandshakeState(noiseConfig(false, serverKP, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	payload1, _, _, err := resp.ReadMessage(nil, rec.msg1)
	if err != nil {
		t.Fatal(err)
	}
	first, err := parsePayload1(payload1)
	if err != nil {
		t.Fatal(err)
	}
	// flynn/noise draws the ephemeral from Random when it writes "e".
	cfg := noiseConfig(true, x25519Pair(t, rec.staticPriv), serverKP.Public, bytes.NewReader(rec.ephPriv))
	init, err := noise.NewHandshakeState(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, _, _, err := init.WriteMessage(nil, payload1)
	if err != nil || !bytes.Equal(again, rec.msg1) {
		t.Fatalf("replayed first message differs: %v", err)
	}
	payload2, i2r, r2i, err := init.ReadMessage(nil, rec.msg2)
	if err != nil || i2r == nil {
		t.Fatalf("reading msg2 with the classical secrets: %v", err)
	}
	suite, ct, err := parsePayload2(payload2, first.offersAES)
	if err != nil {
		t.Fatal(err)
	}
	return &classicalView{h: init.ChannelBinding(), i2r: i2r, r2i: r2i, ek: first.ek, ct: ct, suite: suite}
}

// opens derives the session keys with pqShared as the ML-KEM secret and
// reports whether they open the recorded records, with the client's
// second record (the application data) when they do.
func (cl *classicalView) opens(t *testing.T, rec *pqRecording, pqShared []byte) (bool, string) {
	t.Helper()
	keys, err := deriveSessionKeys(cl.h, cl.i2r, cl.r2i, pqShared, cl.ek, cl.ct, cl.suite)
	if err != nil {
		t.Fatal(err)
	}
	var plain []string
	for i, r := range rec.c2s[:2] {
		kind, data, err := openRecord(keys.c2s, uint64(i), r[0], bytes.Clone(r[1]))
		if errors.Is(err, ErrRecordAuth) {
			return false, ""
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && kind != kindAuth {
			t.Fatalf("first record of kind %d", kind)
		}
		plain = append(plain, string(data))
	}
	if _, _, err := openRecord(keys.s2c, 0, rec.s2c[0][0], bytes.Clone(rec.s2c[0][1])); err != nil {
		t.Fatalf("client-to-server opened but server-to-client did not: %v", err)
	}
	return true, plain[1]
}

// openRecord authenticates and decrypts one record of sequence number seq
// in place (the tests' way to read what a Conn wrote).
func openRecord(aead cipher.AEAD, seq uint64, header, ciphertext []byte) (byte, []byte, error) {
	nonce := recordNonce(seq)
	return openRecordNonce(aead, nonce[:], header, ciphertext)
}
