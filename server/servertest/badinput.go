package servertest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	mrand "math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// The bad input that the server's tests and the end-to-end tests throw at
// a running server (server/badinput_test.go, e2e/badinput_test.go).

// BadFrameKinds is how many kinds of bad frame BadFrame makes.
const BadFrameKinds = 4

// BadFrame returns a frame no honest client sends, of the given kind
// (taken modulo BadFrameKinds): 0, random bytes; 1, one of seeds (valid
// encoded frames) with bytes flipped, cut or added; 2, more than
// wire.MaxFrame bytes; 3, a message only servers send, or an unknown
// message type. It is never empty.
func BadFrame(rng *mrand.Rand, kind int, seeds [][]byte) []byte {
	switch kind % BadFrameKinds {
	case 0:
		bad := make([]byte, 1+rng.IntN(300))
		rand.Read(bad)
		return bad
	case 1:
		bad := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for range 1 + rng.IntN(4) {
			switch rng.IntN(3) {
			case 0:
				bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
			case 1:
				bad = bad[:1+rng.IntN(len(bad))]
			case 2:
				bad = append(bad, byte(rng.IntN(256)))
			}
		}
		return bad
	case 2:
		bad := make([]byte, wire.MaxFrame+1+rng.IntN(1000))
		copy(bad, seeds[0])
		return bad
	default:
		bad, _ := wire.Encode(wire.Frame{RequestID: 5, Msg: &wire.Pong{}})
		if rng.IntN(2) == 0 {
			binary.BigEndian.PutUint16(bad[2:], 0x0777)
		}
		return bad
	}
}

// GarbageBeforeHandshake connects to addr and sends random bytes (half the
// time behind a plausible length prefix) instead of a handshake. The
// server must answer nothing and close the connection within wait; t gets
// an error otherwise.
func GarbageBeforeHandshake(t testing.TB, addr string, rng *mrand.Rand, wait time.Duration) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	b := make([]byte, 1+rng.IntN(3000))
	rand.Read(b)
	if rng.IntN(2) == 0 && len(b) >= 2 {
		binary.BigEndian.PutUint16(b, uint16(len(b)-2)) // a plausible length prefix
	}
	conn.Write(b)
	conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if n > 0 {
		t.Errorf("the server answered %d bytes to garbage before the handshake", n)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("the server kept a connection open %v after garbage instead of a handshake", wait)
	}
}
