package securechan

import (
	"bytes"
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
	run := func() (c2s, s2c []byte) {
		cryptotest.SetGlobalRandom(t, 42)
		f := newFixture(t, ServerConfig{})
		ccfg := f.clientConfig()
		ccfg.Rand = seeded(5)
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
	c1, s1 := run()
	c2, s2 := run()
	if !bytes.Equal(c1, c2) || !bytes.Equal(s1, s2) {
		t.Fatal("fixed randomness and clock gave different wire bytes")
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
