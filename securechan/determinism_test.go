package securechan

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"testing"
	"testing/cryptotest"
)

// TestDeterministicHandshakeBothSides fixes every source of randomness (the
// client's Rand, and crypto/rand for the server's ephemeral and ML-KEM
// encapsulation) and the clock: two runs must put the same bytes on the
// wire in both directions.
func TestDeterministicHandshakeBothSides(t *testing.T) {
	c1, s1 := deterministicWire(t, nil, ServerConfig{})
	c2, s2 := deterministicWire(t, nil, ServerConfig{})
	if !bytes.Equal(c1, c2) || !bytes.Equal(s1, s2) {
		t.Fatal("fixed randomness and clock gave different wire bytes")
	}
}

// deterministicWire runs a session with fixed randomness and clock (edit,
// if set, changes the client's config; scfg is the server's) and returns
// the bytes each side wrote: the handshake, one message each way and the
// close records.
func deterministicWire(t *testing.T, edit func(*ClientConfig), scfg ServerConfig) (c2s, s2c []byte) {
	t.Helper()
	cryptotest.SetGlobalRandom(t, 42)
	f := newFixture(t, scfg)
	ccfg := f.clientConfig()
	ccfg.Rand = seeded(5)
	if edit != nil {
		edit(&ccfg)
	}
	cc, sc := net.Pipe()
	crec, srec := &recordingConn{Conn: cc}, &recordingConn{Conn: sc}
	client, server, cerr, serr := f.pair(t, crec, srec, ccfg)
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	exchange(t, client, server, []int{33})
	exchange(t, server, client, []int{44})
	shutdown(t, client, server)
	return crec.bytes(), srec.bytes()
}

// TestVersion1WireIsUnchanged pins the wire bytes of a ChaCha20-Poly1305
// session with fixed randomness and clock to those of the version 1 code
// (before AES-256-GCM records were negotiated; docs/spec/securechan.md,
// "Handshake"): a client that offers no AES sends what every earlier
// client sent, and the server answers it as an earlier server did, so
// clients and servers of either version work together.
func TestVersion1WireIsUnchanged(t *testing.T) {
	const (
		wantC2S = "de6605e6e7fec789ceb2587526fdf59501891053817efd958ff56667532764f2"
		wantS2C = "89b26e14deec9fdb14f1cfe28b605fca7c06be42176eec314c9b68de238279af"
	)
	noAES := func(c *ClientConfig) { c.AES = AESNever }
	for _, server := range []AESPolicy{AESAuto, AESNever, AESAlways} {
		c2s, s2c := deterministicWire(t, noAES, ServerConfig{AES: server})
		gotC2S, gotS2C := fmt.Sprintf("%x", sha256.Sum256(c2s)), fmt.Sprintf("%x", sha256.Sum256(s2c))
		if gotC2S != wantC2S || gotS2C != wantS2C {
			t.Errorf("server AES policy %v: wire bytes changed: client %s (%d bytes), server %s (%d bytes)", server, gotC2S, len(c2s), gotS2C, len(s2c))
		}
	}
}

func TestNetConnStream(t *testing.T) {
	f := newFixture(t, ServerConfig{})
	cc, sc := net.Pipe()
	client, server := mustPair(t, f, cc, sc)
	want := bytes.Repeat([]byte("stream bytes "), 20000)
	go func() {
		w := client.NetConn()
		w.Write(want[:7])
		w.Write(want[7:])
		w.Close()
	}()
	got, err := io.ReadAll(server.NetConn())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("stream read %d bytes, err %v; want %d bytes", len(got), err, len(want))
	}
	server.Close()
}
