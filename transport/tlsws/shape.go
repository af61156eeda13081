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
//   - splits a write into records of shapeRecordMin..shapeRecordMax bytes
//     of WebSocket frames (one TLS Write each), under the 411 bytes of
//     Russia's 2024 rule;
//   - pads each record with unsolicited pong frames (RFC 6455 §5.5.3: a
//     pong needs no answer, and the reader drops it) up to its drawn size,
//     before or after the data;
//   - now and then sends a pad-only record.
// Sizes are drawn afresh per record, so a censor who sees record sizes and
// directions sees no fixed sequence. The cost (TestTunnelShapingCost): about
// 0.3 KB per side per opening and more, smaller records; no delay is added.

// shapeWrites is a variable so that the shape test can measure the cost
// against unshaped tunnels.
var shapeWrites = 16

const (
	shapeWindow = 5 * time.Second
	// A shaped record carries shapeRecordMin..shapeRecordMax bytes of
	// frames; with TLS 1.3's 22 bytes (header, content type, tag) it stays
	// under 411 on the wire.
	shapeRecordMin, shapeRecordMax = 96, 380
	// frameOverheadMax is a client frame's header with a 16-bit length and
	// its mask (RFC 6455 §5.2).
	frameOverheadMax = 8
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

// writeShapedLocked writes p as padded records of shapeRecordMin to
// shapeRecordMax bytes of WebSocket frames each (data and padding), so that
// no record of the opening reaches 411 bytes on the wire: Russia's 2024
// rule marks a flow whose client sends three or more records of at least
// 411 bytes early (docs/lab.md, censor.RecordShape), and a browser's early
// records after its upgrade request are small. The caller holds writeMu.
func (c *wsConn) writeShapedLocked(p []byte) error {
	for len(p) > 0 {
		room := shapeRecordMin + c.rng.IntN(shapeRecordMax-shapeRecordMin+1)
		n := min(len(p), room-frameOverheadMax)
		pad := 0
		if left := room - frameOverheadMax - n; left > frameOverheadMax && c.rng.IntN(4) != 0 {
			pad = c.rng.IntN(left - frameOverheadMax + 1)
		}
		if err := c.writeRecordLocked(p[:n], pad); err != nil {
			return err
		}
		p = p[n:]
	}
	if c.rng.IntN(4) == 0 {
		return c.writeRecordLocked(nil, 1+c.rng.IntN(maxControlPayload))
	}
	return nil
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
