package tlspl

import (
	"encoding/binary"
	"fmt"
)

// Reader decodes an encoding. Reads after an error return zero values and
// consume nothing.
type Reader struct {
	s       []byte
	err     error
	labeled bool // err already names its field
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{s: b} }

// MakeReader returns a Reader over b as a value (for embedding).
func MakeReader(b []byte) Reader { return Reader{s: b} }

// Err returns the first error recorded.
func (r *Reader) Err() error { return r.err }

// SetErr records err if none is recorded yet and drops the input left.
func (r *Reader) SetErr(err error) {
	if r.err == nil {
		r.err, r.s = err, nil
	}
}

// Fail records err prefixed with field, if no error is recorded yet.
func (r *Reader) Fail(field string, err error) {
	if r.err == nil {
		r.err, r.s, r.labeled = labeled(field, err), nil, true
	}
}

// Label prefixes the recorded error with field unless it already names
// one. A codec that names its fields calls it after each read, so the
// first failure says where it happened.
func (r *Reader) Label(field string) {
	if r.err != nil && !r.labeled {
		r.label(field)
	}
}

func (r *Reader) label(field string) { r.err, r.labeled = labeled(field, r.err), true }

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
		return fmt.Errorf("%w: %d bytes after the end", ErrTrailing, len(r.s))
	}
	return nil
}

// take consumes n bytes and returns them without copying (nil on error).
// After an error the input is empty (SetErr and Fail drop it), so the
// length check alone also stops every read past an error.
func (r *Reader) take(n int) []byte {
	if n < 0 || len(r.s) < n {
		r.short(n)
		return nil
	}
	b := r.s[:n:n]
	r.s = r.s[n:]
	return b
}

func (r *Reader) short(n int) {
	r.SetErr(fmt.Errorf("%w: need %d bytes, have %d", ErrTruncated, n, len(r.s)))
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Bool reads a boolean, rejecting anything but 0 and 1.
func (r *Reader) Bool() bool {
	v := r.Uint8()
	if v > 1 {
		r.SetErr(fmt.Errorf("%w: %d", ErrBadBool, v))
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

// Fixed fills dst from the input (a fixed-size array).
func (r *Reader) Fixed(dst []byte) {
	if b := r.take(len(dst)); b != nil {
		copy(dst, b)
	}
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

// varLength reads a variable-length integer length and checks it against
// the input left.
func (r *Reader) varLength() int {
	n := r.Varint()
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.s)) {
		r.SetErr(fmt.Errorf("%w: declared length %d, %d bytes left", ErrTruncated, n, len(r.s)))
		return 0
	}
	return int(n)
}

// VarBytes reads opaque<V> (a copy; never nil on success).
func (r *Reader) VarBytes() []byte {
	n := r.varLength()
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
	n := r.varLength()
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
	r.Join(sub)
}

// Join copies the sub-reader's error into r.
func (r *Reader) Join(sub *Reader) {
	if sub.err != nil {
		r.SetErr(sub.err)
	}
}

// Length32 reads a uint32 length prefix and checks it against max and
// against the input left, before anything is allocated.
func (r *Reader) Length32(max int) int {
	n := r.Uint32()
	if r.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		r.SetErr(fmt.Errorf("%w: declared length %d > limit %d", ErrTooLarge, n, max))
		return 0
	}
	if uint64(n) > uint64(len(r.s)) {
		r.SetErr(fmt.Errorf("%w: declared length %d, %d bytes left", ErrTruncated, n, len(r.s)))
		return 0
	}
	return int(n)
}

// Opaque32 reads a field with a uint32 length prefix of at most max bytes
// and returns a copy (nil when empty).
func (r *Reader) Opaque32(max int) []byte {
	n := r.Length32(max)
	b := r.take(n)
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// Vector32 reads a field with a uint32 length prefix of at most maxBytes
// and returns a Reader over its body (an empty Reader on error).
func (r *Reader) Vector32(maxBytes int) Reader {
	n := r.Length32(maxBytes)
	return Reader{s: r.take(n)}
}

// The Field reads are the reads above for a codec that names its fields:
// the first failure's error starts with the field's name.

// named returns v, the value a read just returned, after naming field in
// that read's error, if it failed.
func named[T any](r *Reader, field string, v T) T {
	r.Label(field)
	return v
}

// Uint8Field reads a byte; an error names field.
func (r *Reader) Uint8Field(field string) uint8 { return named(r, field, r.Uint8()) }

// Uint16Field reads a big-endian uint16; an error names field.
func (r *Reader) Uint16Field(field string) uint16 { return named(r, field, r.Uint16()) }

// Uint32Field reads a big-endian uint32; an error names field.
func (r *Reader) Uint32Field(field string) uint32 { return named(r, field, r.Uint32()) }

// Uint64Field reads a big-endian uint64; an error names field.
func (r *Reader) Uint64Field(field string) uint64 { return named(r, field, r.Uint64()) }

// BoolField reads a boolean (0 or 1); an error names field.
func (r *Reader) BoolField(field string) bool { return named(r, field, r.Bool()) }

// FixedField fills dst from the input; an error names field.
func (r *Reader) FixedField(field string, dst []byte) {
	r.Fixed(dst)
	r.Label(field)
}

// Opaque32Field reads a field with a uint32 length prefix of at most max
// bytes (a copy, nil when empty); an error names field.
func (r *Reader) Opaque32Field(field string, max int) []byte {
	return named(r, field, r.Opaque32(max))
}
