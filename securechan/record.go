package securechan

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record layout on the wire (docs/spec/securechan.md, "Records"):
//
//	length  uint16 big-endian: bytes of ciphertext that follow (19..65535)
//	ciphertext = AEAD(key, nonce = 0^32 || seq uint64, ad = length,
//	             kind uint8 || dataLen uint16 || data || padding)
//
// The AEAD is the session's Suite (ChaCha20-Poly1305 or AES-256-GCM: the
// same nonce and tag sizes).
//
// Padding is whatever follows data inside the plaintext; the receiver
// ignores it.
const (
	recordHeaderLen = 2
	maxRecordLen    = 65535 // ciphertext bytes after the header
	tagLen          = chacha20poly1305.Overhead
	innerHeaderLen  = 3
	minRecordLen    = tagLen + innerHeaderLen
	// maxRecordData is the most message bytes one record carries.
	maxRecordData = maxRecordLen - tagLen - innerHeaderLen
)

// Record kinds.
const (
	kindAuth     byte = 1 // client -> server, first record: device key and signature
	kindData     byte = 2 // message fragment, more follow
	kindDataLast byte = 3 // last (or only) fragment of a message
	kindClose    byte = 4 // orderly close; no more records follow
	kindPad      byte = 5 // padding only, ignored (cover traffic)
)

// recordNonce builds the 96-bit nonce for sequence number seq.
func recordNonce(seq uint64) [chacha20poly1305.NonceSize]byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[4:], seq)
	return n
}

// sealRecord appends one record carrying data with pad zero bytes of
// padding to dst. The caller guarantees len(data)+pad <= maxRecordData.
func sealRecord(dst []byte, aead cipher.AEAD, seq uint64, kind byte, data []byte, pad int) []byte {
	var nonce [chacha20poly1305.NonceSize]byte
	return sealRecordNonce(dst, aead, &nonce, seq, kind, data, pad)
}

// sealRecordNonce is sealRecord with the caller's nonce scratch space (a
// nonce on the stack would escape through the AEAD interface).
func sealRecordNonce(dst []byte, aead cipher.AEAD, nonce *[chacha20poly1305.NonceSize]byte, seq uint64, kind byte, data []byte, pad int) []byte {
	ctLen := innerHeaderLen + len(data) + pad + tagLen
	start := len(dst)
	dst = slices.Grow(dst, recordHeaderLen+ctLen)
	dst = binary.BigEndian.AppendUint16(dst, uint16(ctLen))
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(data)))
	dst = append(dst, data...)
	dst = append(dst, make([]byte, pad)...)
	header := dst[start : start+recordHeaderLen]
	plain := dst[start+recordHeaderLen:]
	*nonce = recordNonce(seq)
	// Seal in place: the plaintext is overwritten with the ciphertext.
	return aead.Seal(dst[:start+recordHeaderLen], nonce[:], plain, header)[:start+recordHeaderLen+ctLen]
}

// recordLength validates a record header and returns the ciphertext length.
func recordLength(header []byte) (int, error) {
	n := int(binary.BigEndian.Uint16(header))
	if n < minRecordLen {
		return 0, fmt.Errorf("%w: record of %d bytes is shorter than the minimum %d", ErrMalformed, n, minRecordLen)
	}
	return n, nil
}

// openRecordNonce authenticates and decrypts one record in place with the
// record's nonce and returns its kind and data (a sub-slice of ciphertext).
func openRecordNonce(aead cipher.AEAD, nonce, header, ciphertext []byte) (byte, []byte, error) {
	plain, err := aead.Open(ciphertext[:0], nonce, ciphertext, header)
	if err != nil {
		return 0, nil, ErrRecordAuth
	}
	return parseInner(plain)
}

// parseInner splits a record plaintext into kind and data, ignoring padding.
func parseInner(plain []byte) (byte, []byte, error) {
	if len(plain) < innerHeaderLen {
		return 0, nil, fmt.Errorf("%w: record plaintext too short", ErrMalformed)
	}
	kind := plain[0]
	n := int(binary.BigEndian.Uint16(plain[1:3]))
	if n > len(plain)-innerHeaderLen {
		return 0, nil, fmt.Errorf("%w: record data length %d exceeds the record", ErrMalformed, n)
	}
	if kind < kindAuth || kind > kindPad {
		return 0, nil, fmt.Errorf("%w: unknown record kind %d", ErrMalformed, kind)
	}
	return kind, plain[innerHeaderLen : innerHeaderLen+n], nil
}

// Record buffers are pooled, so an idle Conn holds no buffer (memory per
// connection matters at tens of thousands of sessions), and small records
// (most messages are a few hundred bytes) use small buffers: a 64 KiB
// buffer per record in flight is what the garbage collector would
// otherwise have to clear and recycle.
const smallBufferSize = 2048

var (
	smallBuffers = sync.Pool{New: func() any {
		b := make([]byte, 0, smallBufferSize)
		return &b
	}}
	bigBuffers = sync.Pool{New: func() any {
		b := make([]byte, 0, recordHeaderLen+maxRecordLen)
		return &b
	}}
)

// A message of several records is reassembled into a pooled buffer that
// holds largeMessageRecords records' data (a 256 KiB attachment chunk and
// its frame fit), so that it is allocated once rather than grown by
// doubling; a larger message grows past it. ReleaseMessage gives it back.
const (
	largeMessageRecords = 5
	largeMessageCap     = largeMessageRecords * maxRecordData
)

var largeMessages = sync.Pool{New: func() any {
	b := make([]byte, 0, largeMessageCap)
	return &b
}}

// largeMessageBuffer returns an empty pooled buffer for reassembling a
// message of several records.
func largeMessageBuffer() []byte {
	bp := largeMessages.Get().(*[]byte)
	return (*bp)[:0]
}

// ReleaseMessage hands a message that Recv returned back for reuse, once
// the caller and everything it gave the message to are done with it (its
// bytes will be overwritten by a later message). Messages that did not
// come from the pool are left to the garbage collector, so calling it is
// never required; calling it while the message is still in use is a bug.
func ReleaseMessage(msg []byte) {
	if cap(msg) != largeMessageCap {
		return
	}
	msg = msg[:0]
	largeMessages.Put(&msg)
}

// poolFor returns the pool whose buffers hold n bytes (n <= a whole record).
func poolFor(n int) *sync.Pool {
	if n <= smallBufferSize {
		return &smallBuffers
	}
	return &bigBuffers
}

// poolOf returns the pool b came from.
func poolOf(b *[]byte) *sync.Pool {
	if cap(*b) <= smallBufferSize {
		return &smallBuffers
	}
	return &bigBuffers
}

// Padding decides how many padding bytes to add to a record or handshake
// payload whose unpadded plaintext is n bytes long. The result is clamped to
// what fits. It must be safe for concurrent use by several sessions.
type Padding func(n int) int

// RandomPadding pads with a uniformly random number of bytes in [0, most],
// drawn afresh for each call.
func RandomPadding(most int) Padding {
	return func(int) int { return rand.IntN(most + 1) }
}

// PadToMultiple pads every record plaintext to a multiple of k bytes, so an
// observer learns lengths only to within k. k <= 1 means no padding.
func PadToMultiple(k int) Padding {
	return func(n int) int {
		if k <= 1 {
			return 0
		}
		return (k - n%k) % k
	}
}
