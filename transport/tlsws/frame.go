package tlsws

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
)

// WebSocket framing (RFC 6455 §5), written here instead of using
// coder/websocket's, because its 4 KiB buffered writer cut every message into
// 4 KiB TLS records with a syscall each, and its reader cost a copy and a
// channel hop per chunk. Here one Write is one frame written to the TLS conn
// with one Write call (crypto/tls then cuts it into 16 KiB records), and
// payload is read straight into the caller's buffer.

// Opcodes (RFC 6455 §5.2, §11.8).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// Close status codes (RFC 6455 §7.4.1).
const (
	statusNormal          = 1000
	statusGoingAway       = 1001
	statusProtocolError   = 1002
	statusUnsupportedData = 1003
	statusNoStatus        = 1005 // never sent: an empty close frame
)

const (
	// maxHeaderLen is 2 bytes, an 8-byte extended length and a 4-byte mask key.
	maxHeaderLen = 14
	// maxControlPayload bounds ping, pong and close payloads (RFC 6455 §5.5).
	maxControlPayload = 125
	// maxFramePayload is the most one outgoing frame carries; a longer Write
	// becomes several frames. 64 KiB: a relay's io.Copy (32 KiB) and the
	// benchmark's writes fit in one.
	maxFramePayload = 64 << 10
)

// frameBufs holds outgoing frame buffers, shared by all conns so that an
// idle conn holds none.
var frameBufs = sync.Pool{New: func() any {
	b := make([]byte, maxHeaderLen+maxFramePayload)
	return &b
}}

// appendFrameHeader appends a final (FIN) frame header for a payload of n
// bytes, with the mask key when masked (RFC 6455 §5.2).
func appendFrameHeader(b []byte, opcode byte, n int, masked bool, key [4]byte) []byte {
	b = append(b, 0x80|opcode)
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	switch {
	case n <= 125:
		b = append(b, maskBit|byte(n))
	case n <= 0xffff:
		b = append(b, maskBit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, key[:]...)
	}
	return b
}

// frameHeader is a parsed frame header.
type frameHeader struct {
	fin    bool
	opcode byte
	masked bool
	key    [4]byte
	length int64
}

var errShortHeader = errors.New("short header")

// parseFrameHeader parses the header at the start of b. It returns
// errShortHeader with the length needed so far when b is too short, so the
// caller can wait for more bytes without consuming any.
func parseFrameHeader(b []byte) (h frameHeader, n int, err error) {
	if len(b) < 2 {
		return h, 2, errShortHeader
	}
	// RFC 6455 §5.2: no extension was negotiated, so RSV1-3 must be 0.
	if b[0]&0x70 != 0 {
		return h, 0, errors.New("reserved bits set")
	}
	h.fin = b[0]&0x80 != 0
	h.opcode = b[0] & 0x0f
	h.masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		n += 2
	case 127:
		n += 8
	default:
		h.length = int64(l)
	}
	if h.masked {
		n += 4
	}
	if len(b) < n {
		return h, n, errShortHeader
	}
	switch b[1] & 0x7f {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		l := binary.BigEndian.Uint64(b[2:])
		// RFC 6455 §5.2: the most significant bit must be 0.
		if l>>63 != 0 {
			return h, 0, errors.New("frame length has the top bit set")
		}
		h.length = int64(l)
	}
	if h.masked {
		copy(h.key[:], b[n-4:n])
	}
	switch h.opcode {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		// RFC 6455 §5.5: control frames are not fragmented and carry at
		// most 125 bytes.
		if !h.fin || h.length > maxControlPayload {
			return h, 0, errors.New("fragmented or oversized control frame")
		}
	default:
		return h, 0, fmt.Errorf("unknown opcode %#x", h.opcode)
	}
	return h, n, nil
}

// maskPattern is a mask key repeated, with 4 spare bytes so that a window
// starting at any key offset (0-3) is maskChunk bytes long.
type maskPattern [maskChunk + 4]byte

const maskChunk = 512

func (m *maskPattern) set(key [4]byte) {
	k := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k) | uint64(k)<<32
	for i := 0; i+8 <= len(m); i += 8 {
		binary.LittleEndian.PutUint64(m[i:], k64)
	}
	copy(m[len(m)/8*8:], key[:])
}

// xor sets dst = src XOR the mask stream starting at payload offset pos
// (RFC 6455 §5.3). dst and src may be the same slice. It runs
// crypto/subtle's vectorised XOR over 512-byte windows of the pattern.
func (m *maskPattern) xor(dst, src []byte, pos int64) {
	off := int(pos & 3)
	for len(src) > 0 {
		n := subtle.XORBytes(dst, src, m[off:off+maskChunk])
		dst, src = dst[n:], src[n:]
	}
}

// websocketAccept is the server's answer to a Sec-WebSocket-Key (RFC 6455 §4.2.2).
func websocketAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// corkConn is the TCP conn under TLS. While corked it collects what TLS
// writes, so that a large frame, which crypto/tls cuts into 16 KiB records
// written one syscall each, goes out in one syscall.
type corkConn struct {
	net.Conn
	opening <-chan struct{} // standalone: closed when the relay's preface went out (sendPreface)
	mu      sync.Mutex      // guards the fields below; held during a flush
	corked  bool
	buf     *[]byte

	rd readState // the reading side (recordread.go)
}

// corkMin is the smallest frame worth corking: above one TLS record.
const corkMin = 16 << 10

// corkBufs holds the collected records of one frame: the frame, and per
// 16 KiB record a 5-byte header and a 17-byte TLS 1.3 trailer.
var corkBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, maxHeaderLen+maxFramePayload+(maxFramePayload/(16<<10)+2)*32)
	return &b
}}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		*c.buf = append(*c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = true
	c.buf = corkBufs.Get().(*[]byte)
}

// uncork writes what was collected. An error here means TLS records TLS
// thinks were sent were not: the conn is unusable.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	corkBufs.Put(c.buf)
	c.buf = nil
	return err
}

// corkListener hands out corkConns.
type corkListener struct{ net.Listener }

func (l corkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &corkConn{Conn: c}, nil
}
