package wire

import (
	"fmt"
	"unicode/utf8"
)

// The codec is the TLS presentation language (RFC 8446 §3) reduced to what the
// wire protocol uses: big-endian fixed-width integers, fixed-size opaque
// arrays, uint8 booleans, and variable-length fields with a uint32 byte-length
// prefix. Lists are variable-length fields whose body is their elements
// concatenated. Writer and reader carry a sticky error so that message codecs
// are flat lists of fields.

// writer accumulates an encoding.
type writer struct {
	buf []byte
	err error
}

func (w *writer) fail(field string, err error) {
	if w.err == nil {
		w.err = fmt.Errorf("%s: %w", field, err)
	}
}

func (w *writer) u8(v uint8)   { w.buf = append(w.buf, v) }
func (w *writer) u16(v uint16) { w.buf = append(w.buf, byte(v>>8), byte(v)) }
func (w *writer) u32(v uint32) {
	w.buf = append(w.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func (w *writer) u64(v uint64) { w.u32(uint32(v >> 32)); w.u32(uint32(v)) }

func (w *writer) boolean(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// fixed appends a fixed-size array with no prefix.
func (w *writer) fixed(b []byte) { w.buf = append(w.buf, b...) }

// bytes appends opaque<min..max> with a uint32 length prefix.
func (w *writer) bytes(field string, b []byte, min, max int) {
	if len(b) < min {
		w.fail(field, fmt.Errorf("%w: %d bytes, at least %d required", ErrInvalid, len(b), min))
		return
	}
	if len(b) > max {
		w.fail(field, fmt.Errorf("%w: %d bytes > limit %d", ErrTooLarge, len(b), max))
		return
	}
	w.u32(uint32(len(b)))
	w.fixed(b)
}

// text appends a UTF-8 string of at most max bytes.
func (w *writer) text(field string, s string, max int) {
	if !utf8.ValidString(s) {
		w.fail(field, fmt.Errorf("%w: not valid UTF-8", ErrInvalid))
		return
	}
	w.bytes(field, []byte(s), 0, max)
}

// list appends a list of n elements (at most max) written by each, prefixed
// by the uint32 byte length of the elements.
func (w *writer) list(field string, n, max int, each func(w *writer, i int)) {
	if n > max {
		w.fail(field, fmt.Errorf("%w: %d entries > limit %d", ErrTooLarge, n, max))
		return
	}
	at := len(w.buf)
	w.u32(0) // patched below
	for i := 0; i < n && w.err == nil; i++ {
		each(w, i)
	}
	if w.err != nil {
		return
	}
	l := len(w.buf) - at - 4
	w.buf[at], w.buf[at+1], w.buf[at+2], w.buf[at+3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
}

// reader decodes an encoding. Reads after an error return zero values.
// Every returned byte slice is a copy: decoded messages never alias the input.
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

func (r *reader) u16(field string) uint16 {
	if b := r.take(field, 2); b != nil {
		return uint16(b[0])<<8 | uint16(b[1])
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
	if b := r.take(field, 8); b != nil {
		return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	}
	return 0
}

// boolean reads a uint8 that must be 0 or 1.
func (r *reader) boolean(field string) bool {
	v := r.u8(field)
	if v > 1 {
		r.fail(field, fmt.Errorf("%w: boolean is %d, must be 0 or 1", ErrInvalid, v))
	}
	return v == 1
}

// fixed fills dst from the input.
func (r *reader) fixed(field string, dst []byte) {
	if b := r.take(field, len(dst)); b != nil {
		copy(dst, b)
	}
}

// length reads a uint32 length prefix and checks it against max and against
// the input left, before anything is allocated.
func (r *reader) length(field string, max int) int {
	n := r.u32(field)
	if r.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		r.fail(field, fmt.Errorf("%w: declared length %d > limit %d", ErrTooLarge, n, max))
		return 0
	}
	if uint64(n) > uint64(len(r.s)) {
		r.fail(field, fmt.Errorf("%w: declared length %d, %d bytes left", ErrTruncated, n, len(r.s)))
		return 0
	}
	return int(n)
}

// bytes reads opaque<min..max> and returns a copy (nil when empty).
func (r *reader) bytes(field string, min, max int) []byte {
	n := r.length(field, max)
	if r.err != nil {
		return nil
	}
	if n < min {
		r.fail(field, fmt.Errorf("%w: %d bytes, at least %d required", ErrInvalid, n, min))
		return nil
	}
	b := r.take(field, n)
	if n == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// text reads a UTF-8 string of at most max bytes.
func (r *reader) text(field string, max int) string {
	b := r.bytes(field, 0, max)
	if r.err == nil && !utf8.Valid(b) {
		r.fail(field, fmt.Errorf("%w: not valid UTF-8", ErrInvalid))
		return ""
	}
	return string(b)
}

// list reads a list of at most max elements, each read by each from the
// list's own sub-reader, which must end exactly at the declared length.
// maxBytes bounds the declared length.
func (r *reader) list(field string, max, maxBytes int, each func(r *reader)) {
	n := r.length(field, maxBytes)
	body := r.take(field, n)
	if r.err != nil {
		return
	}
	sub := reader{s: body}
	for count := 0; len(sub.s) > 0 && sub.err == nil; count++ {
		if count == max {
			r.fail(field, fmt.Errorf("%w: more than %d entries", ErrTooLarge, max))
			return
		}
		each(&sub)
	}
	if sub.err != nil {
		r.fail(field, sub.err)
	}
}

// done reports the first error, or ErrTrailing if input is left over.
func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if len(r.s) != 0 {
		return fmt.Errorf("%w: %d bytes after the message", ErrTrailing, len(r.s))
	}
	return nil
}
