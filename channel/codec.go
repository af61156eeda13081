package channel

import (
	"errors"
	"fmt"
)

// The encodings are the TLS presentation language (RFC 8446 §3) as in
// docs/spec/wire.md: big-endian integers, fixed-size arrays, and opaque
// fields with a uint32 length prefix. Writer and reader carry a sticky error.

// Errors wrapped by the decoders and verifiers.
var (
	ErrTruncated = errors.New("truncated")
	ErrTrailing  = errors.New("trailing bytes")
	ErrTooLarge  = errors.New("too large")
	ErrInvalid   = errors.New("invalid value")
	ErrSignature = errors.New("bad signature")
	ErrNotAdmin  = errors.New("signer is not the owner nor a current admin")
)

type writer struct{ buf []byte }

func (w *writer) u8(v uint8) { w.buf = append(w.buf, v) }
func (w *writer) u32(v uint32) {
	w.buf = append(w.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func (w *writer) u64(v uint64)    { w.u32(uint32(v >> 32)); w.u32(uint32(v)) }
func (w *writer) fixed(b []byte)  { w.buf = append(w.buf, b...) }
func (w *writer) opaque(b []byte) { w.u32(uint32(len(b))); w.fixed(b) }

type reader struct {
	s   []byte
	err error
}

func (r *reader) fail(field string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", field, err)
		r.s = nil
	}
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.s) < n {
		r.fail(field, fmt.Errorf("%w: need %d bytes, have %d", ErrTruncated, n, len(r.s)))
		return nil
	}
	b := r.s[:n:n]
	r.s = r.s[n:]
	return b
}

func (r *reader) u8(field string) uint8 {
	if b := r.take(field, 1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if b := r.take(field, 4); b != nil {
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	hi := r.u32(field)
	lo := r.u32(field)
	return uint64(hi)<<32 | uint64(lo)
}

func (r *reader) fixed(field string, dst []byte) {
	if b := r.take(field, len(dst)); b != nil {
		copy(dst, b)
	}
}

// opaque reads a uint32-prefixed field of at most max bytes, checking the
// declared length before allocating; it returns a copy (nil when empty).
func (r *reader) opaque(field string, max int) []byte {
	n := r.u32(field)
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		r.fail(field, fmt.Errorf("%w: declared length %d > limit %d", ErrTooLarge, n, max))
		return nil
	}
	b := r.take(field, int(n))
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if len(r.s) != 0 {
		return fmt.Errorf("%w: %d bytes after the end", ErrTrailing, len(r.s))
	}
	return nil
}
