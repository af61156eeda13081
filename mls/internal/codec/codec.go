// Package codec implements the TLS presentation language encoding that
// RFC 9420 uses for every MLS structure (RFC 9420 §2.1), including the
// variable-length integer prefix of §2.1.2 for vectors.
//
// Writer and Reader carry a sticky error so that structure codecs can be
// written as a flat list of fields; callers check the error once at the end.
// A Reader never panics on any input and always copies the bytes it returns.
package codec

import (
	"errors"
	"fmt"
)

// MaxVarint is the largest length the MLS variable-length integer can hold
// (RFC 9420 §2.1.2: 30 bits).
const MaxVarint = 1<<30 - 1

// Errors reported by Reader. They are wrapped with the field context.
var (
	ErrShort       = errors.New("codec: input too short")
	ErrTrailing    = errors.New("codec: trailing bytes")
	ErrVarint      = errors.New("codec: invalid variable-length integer")
	ErrNonMinimal  = errors.New("codec: variable-length integer not minimally encoded")
	ErrTooLong     = errors.New("codec: length exceeds limit")
	ErrBadBool     = errors.New("codec: boolean or optional marker is neither 0 nor 1")
	ErrInvalidEnum = errors.New("codec: invalid enumeration value")
)

// Marshaler is implemented by every MLS structure.
type Marshaler interface {
	MarshalMLS(w *Writer)
}

// Marshal encodes m.
func Marshal(m Marshaler) ([]byte, error) {
	var w Writer
	m.MarshalMLS(&w)
	return w.Result()
}

// MustMarshal encodes m and panics if the value cannot be encoded, which can
// only be a programming error (a vector longer than 2^30-1 bytes built by us).
func MustMarshal(m Marshaler) []byte {
	b, err := Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// Writer accumulates an encoding.
type Writer struct {
	buf []byte
	err error
}

// Result returns the encoded bytes or the first error.
func (w *Writer) Result() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

// Err returns the first error recorded.
func (w *Writer) Err() error { return w.err }

// SetErr records err if none is recorded yet.
func (w *Writer) SetErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Uint8 appends v.
func (w *Writer) Uint8(v uint8) { w.buf = append(w.buf, v) }

// Uint16 appends v big-endian.
func (w *Writer) Uint16(v uint16) { w.buf = append(w.buf, byte(v>>8), byte(v)) }

// Uint32 appends v big-endian.
func (w *Writer) Uint32(v uint32) {
	w.buf = append(w.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Uint64 appends v big-endian.
func (w *Writer) Uint64(v uint64) {
	w.Uint32(uint32(v >> 32))
	w.Uint32(uint32(v))
}

// Bool appends 1 or 0.
func (w *Writer) Bool(v bool) {
	if v {
		w.Uint8(1)
	} else {
		w.Uint8(0)
	}
}

// Raw appends b with no length prefix (fixed-size fields).
func (w *Writer) Raw(b []byte) { w.buf = append(w.buf, b...) }

// Varint appends v as an MLS variable-length integer (RFC 9420 §2.1.2).
func (w *Writer) Varint(v uint64) {
	switch {
	case v < 1<<6:
		w.Uint8(uint8(v))
	case v < 1<<14:
		w.Uint16(uint16(v) | 0x4000)
	case v < 1<<30:
		w.Uint32(uint32(v) | 0x80000000)
	default:
		w.SetErr(fmt.Errorf("%w: %d", ErrTooLong, v))
	}
}

// VarBytes appends opaque<V>: a variable-length integer length and b.
func (w *Writer) VarBytes(b []byte) {
	w.Varint(uint64(len(b)))
	w.Raw(b)
}

// Vector appends a variable-length vector whose body f writes.
func (w *Writer) Vector(f func(w *Writer)) {
	var inner Writer
	f(&inner)
	if inner.err != nil {
		w.SetErr(inner.err)
		return
	}
	w.VarBytes(inner.buf)
}

// Optional appends optional<T>: a presence byte and, if present, f's body.
func (w *Writer) Optional(present bool, f func(w *Writer)) {
	w.Bool(present)
	if present {
		f(w)
	}
}

// Reader decodes an encoding. Reads past an error return zero values.
type Reader struct {
	s   []byte
	err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{s: b} }

// Err returns the first error recorded.
func (r *Reader) Err() error { return r.err }

// SetErr records err if none is recorded yet.
func (r *Reader) SetErr(err error) {
	if r.err == nil {
		r.err = err
		r.s = nil
	}
}

// Empty reports whether all input is consumed (or an error occurred).
func (r *Reader) Empty() bool { return len(r.s) == 0 }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.s) }

// Remaining returns the unread bytes without consuming them.
func (r *Reader) Remaining() []byte { return r.s }

// Done returns the first error, or ErrTrailing if input is left over.
func (r *Reader) Done() error {
	if r.err != nil {
		return r.err
	}
	if len(r.s) != 0 {
		return fmt.Errorf("%w: %d left", ErrTrailing, len(r.s))
	}
	return nil
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.s) < n {
		r.SetErr(ErrShort)
		return nil
	}
	b := r.s[:n:n]
	r.s = r.s[n:]
	return b
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16() uint16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 {
	hi := r.Uint32()
	lo := r.Uint32()
	return uint64(hi)<<32 | uint64(lo)
}

// Bool reads a boolean, rejecting anything but 0 and 1.
func (r *Reader) Bool() bool {
	v := r.Uint8()
	if v > 1 {
		r.SetErr(ErrBadBool)
	}
	return v == 1
}

// Optional reads the presence marker of optional<T>.
func (r *Reader) Optional() bool { return r.Bool() }

// Raw reads n bytes (a copy).
func (r *Reader) Raw(n int) []byte {
	b := r.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Varint reads an MLS variable-length integer, rejecting the reserved 0b11
// prefix and non-minimal encodings (RFC 9420 §2.1.2).
func (r *Reader) Varint() uint64 {
	first := r.Uint8()
	if r.err != nil {
		return 0
	}
	prefix := first >> 6
	v := uint64(first & 0x3f)
	var n int
	switch prefix {
	case 0:
		return v
	case 1:
		n = 1
	case 2:
		n = 3
	default:
		r.SetErr(ErrVarint)
		return 0
	}
	for _, b := range r.take(n) {
		v = v<<8 | uint64(b)
	}
	if r.err != nil {
		return 0
	}
	if (prefix == 1 && v < 1<<6) || (prefix == 2 && v < 1<<14) {
		r.SetErr(ErrNonMinimal)
		return 0
	}
	return v
}

func (r *Reader) length() int {
	n := r.Varint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.s)) {
		r.SetErr(ErrShort)
		return 0
	}
	return int(n)
}

// VarBytes reads opaque<V> (a copy; never nil on success).
func (r *Reader) VarBytes() []byte {
	n := r.length()
	b := r.take(n)
	if r.err != nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Vector reads a variable-length vector and returns a Reader over its body.
// The caller decodes elements until the sub-reader is Empty and then
// propagates its error with Join.
func (r *Reader) Vector() *Reader {
	n := r.length()
	b := r.take(n)
	if r.err != nil {
		return &Reader{err: r.err}
	}
	return &Reader{s: b}
}

// ReadVector reads a variable-length vector and calls f until its body is
// consumed. Errors of f's reads are propagated into r.
func (r *Reader) ReadVector(f func(r *Reader)) {
	sub := r.Vector()
	for sub.err == nil && !sub.Empty() {
		f(sub)
	}
	if sub.err != nil {
		r.SetErr(sub.err)
	}
}

// Join copies the sub-reader's error into r.
func (r *Reader) Join(sub *Reader) {
	if sub.err != nil {
		r.SetErr(sub.err)
	}
}

// Unmarshaler is implemented by pointer types that decode themselves.
type Unmarshaler interface {
	UnmarshalMLS(r *Reader)
}

// Unmarshal decodes b into v and rejects trailing bytes.
func Unmarshal(b []byte, v Unmarshaler) error {
	r := NewReader(b)
	v.UnmarshalMLS(r)
	return r.Done()
}

// MustResult returns the Writer's bytes and panics on an error, which for
// writers that only hold lengths we computed is a programming error.
func MustResult(w *Writer) []byte {
	b, err := w.Result()
	if err != nil {
		panic(err)
	}
	return b
}
