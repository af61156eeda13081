package tlsws

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"time"
)

// Tunnel shaping (docs/spec/transports.md, "tlsws: the opening's shape").
// For the first shapeWrites writes of a tunnel, within shapeWindow of its
// start, each side
//   - splits a write into one to three WebSocket frames at random points,
//     each frame its own TLS record (one TLS Write each);
//   - pads each record with unsolicited pong frames (RFC 6455 §5.5.3: a
//     pong needs no answer, and the reader drops it) of random total size,
//     0 to shapeMaxPad bytes, in the same record before or after the data;
//   - now and then sends a pad-only record.
// Sizes are drawn afresh per record, so a censor who sees record sizes and
// directions sees no fixed sequence. The cost: about 500 bytes and one or
// two records per shaped write on average (measured by
// TestTunnelShapingCost), so at most about 8 KB per side per tunnel on
// average, 38 KB in the worst case (16 writes of 4 records padded 600
// bytes each); no delay is added.

// shapeWrites is a variable so that the shape test can measure the cost
// against unshaped tunnels.
var shapeWrites = 16

const (
	shapeWindow = 5 * time.Second
	shapeMaxPad = 600
	// shapeMaxSplit: writes up to this size are split and padded; larger
	// ones (bulk data) go out as they are.
	shapeMaxSplit = 8 << 10
)

// shaping reports whether the next write is shaped, and counts it.
func (c *wsConn) shaping(n int) bool {
	if c.shapeLeft <= 0 || n > shapeMaxSplit || time.Now().After(c.shapeUntil) {
		return false
	}
	c.shapeLeft--
	return true
}

// writeShapedLocked writes p as one to three padded records. The caller
// holds writeMu.
func (c *wsConn) writeShapedLocked(p []byte) error {
	pieces := 1 + c.rng.IntN(3)
	pieces = min(pieces, len(p))
	for i := 0; i < pieces; i++ {
		n := len(p)
		if i < pieces-1 {
			n = 1 + c.rng.IntN(len(p)-(pieces-1-i))
		}
		if err := c.writeRecordLocked(p[:n], c.padSize()); err != nil {
			return err
		}
		p = p[n:]
	}
	if c.rng.IntN(4) == 0 {
		return c.writeRecordLocked(nil, 1+c.padSize())
	}
	return nil
}

// padSize draws a pad: none a quarter of the time, else uniform up to
// shapeMaxPad.
func (c *wsConn) padSize() int {
	if c.rng.IntN(4) == 0 {
		return 0
	}
	return c.rng.IntN(shapeMaxPad + 1)
}

// writeRecordLocked writes data (if any) as a binary frame and pad bytes
// of pong frames, in one TLS Write.
func (c *wsConn) writeRecordLocked(data []byte, pad int) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	var buf []byte
	padFirst := c.rng.IntN(2) == 0
	if !padFirst && len(data) > 0 {
		buf = c.appendFrame(buf, opBinary, data)
	}
	for pad > 0 {
		// Each pong costs its header (2 bytes, 6 when masked) too.
		n := min(pad, maxControlPayload)
		buf = c.appendFrame(buf, opPong, make([]byte, n))
		pad -= n
	}
	if padFirst && len(data) > 0 {
		buf = c.appendFrame(buf, opBinary, data)
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := c.tc.Write(buf); err != nil {
		c.writeErr = fmt.Errorf("tlsws: writing: %w", err)
		return c.writeErr
	}
	return nil
}

// appendFrame appends one final frame, masked on the client side.
func (c *wsConn) appendFrame(b []byte, opcode byte, payload []byte) []byte {
	var key [4]byte
	if c.client {
		binary.LittleEndian.PutUint32(key[:], uint32(c.maskRand.Uint64()))
	}
	b = appendFrameHeader(b, opcode, len(payload), c.client, key)
	hdr := len(b)
	b = append(b, payload...)
	if c.client {
		var m maskPattern
		m.set(key)
		m.xor(b[hdr:], b[hdr:], 0)
	}
	return b
}

// randomCookie returns what a returning visitor's cookies might look like:
// nothing a fifth of the time, else an analytics-style id and a session
// token of random length (16-240 characters). The server ignores them.
func randomCookie() string {
	if mrand.IntN(5) == 0 {
		return ""
	}
	tok := make([]byte, 12+mrand.IntN(169))
	rand.Read(tok)
	return fmt.Sprintf("_ga=GA1.1.%d.%d; sid=%s", 1e9+mrand.Int64N(9e9), time.Now().Unix()-mrand.Int64N(3e7), base64.RawURLEncoding.EncodeToString(tok))
}
