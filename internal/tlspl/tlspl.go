// Package tlspl encodes and decodes the TLS presentation language
// (RFC 8446 §3) for every structure samizdat puts on the wire or signs:
// the MLS structures of RFC 9420 (§2.1, with the variable-length integer of
// §2.1.2 as vector length), the frames of the wire protocol and the
// channel posts and descriptors (docs/spec/wire.md, both with a uint32
// length prefix).
//
// It is the one codec of the module: mls/internal/codec, wire and channel
// are thin names over it. Writer and Reader carry a sticky error so that a
// structure's codec is a flat list of fields and the caller checks the
// error once at the end. A Reader never panics on any input, checks every
// declared length against the input left before it allocates, and returns
// copies: nothing decoded aliases the input.
//
// Errors wrap the sentinels below; a caller that names its fields (wire,
// channel) prefixes the first error with the field through Fail and Label.
package tlspl

import (
	"errors"
	"fmt"
)

// MaxVarint is the largest value the MLS variable-length integer holds
// (RFC 9420 §2.1.2: 30 bits).
const MaxVarint = 1<<30 - 1

// Errors wrapped by Writer and Reader.
var (
	ErrTruncated = errors.New("truncated")
	ErrTrailing  = errors.New("trailing bytes")
	ErrTooLarge  = errors.New("too large")
	ErrInvalid   = errors.New("invalid value")

	// ErrVarint is a variable-length integer with the reserved prefix 0b11.
	ErrVarint = fmt.Errorf("%w: variable-length integer with the reserved prefix 0b11", ErrInvalid)
	// ErrNonMinimal is a variable-length integer not minimally encoded
	// (RFC 9420 §2.1.2 requires the shortest form).
	ErrNonMinimal = fmt.Errorf("%w: variable-length integer not minimally encoded", ErrInvalid)
	// ErrBadBool is a boolean or optional<T> marker that is neither 0 nor 1.
	ErrBadBool = fmt.Errorf("%w: boolean or optional marker is neither 0 nor 1", ErrInvalid)
)

// labeled is an error already prefixed with the name of its field.
func labeled(field string, err error) error { return fmt.Errorf("%s: %w", field, err) }

// Writer accumulates an encoding. The zero value is ready to use.
type Writer struct {
	buf     []byte
	err     error
	labeled bool // err already names its field
}

// MakeWriter returns a Writer that appends to buf (for a signature context
// written ahead of the structure, or a buffer sized in advance).
func MakeWriter(buf []byte) Writer { return Writer{buf: buf} }

// Result returns the encoded bytes or the first error.
func (w *Writer) Result() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

// Bytes returns what is encoded so far, even after an error.
func (w *Writer) Bytes() []byte { return w.buf }

// Len returns the number of bytes encoded so far.
func (w *Writer) Len() int { return len(w.buf) }

// Err returns the first error recorded.
func (w *Writer) Err() error { return w.err }

// SetErr records err if none is recorded yet.
func (w *Writer) SetErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Fail records err prefixed with field, if no error is recorded yet.
func (w *Writer) Fail(field string, err error) {
	if w.err == nil {
		w.err, w.labeled = labeled(field, err), true
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
	w.buf = append(w.buf, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Bool appends 1 or 0.
func (w *Writer) Bool(v bool) {
	if v {
		w.Uint8(1)
	} else {
		w.Uint8(0)
	}
}

// Raw appends b with no length prefix (a fixed-size array).
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
		w.SetErr(fmt.Errorf("%w: variable-length integer %d > %d", ErrTooLarge, v, MaxVarint))
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

// Opaque32 appends b with a uint32 length prefix. The caller bounds len(b).
func (w *Writer) Opaque32(b []byte) {
	w.Uint32(uint32(len(b)))
	w.Raw(b)
}

// Begin32 starts a field with a uint32 length prefix whose body the caller
// appends next; End32 with the returned mark writes the length.
func (w *Writer) Begin32() int {
	at := len(w.buf)
	w.Uint32(0)
	return at
}

// End32 patches the uint32 length prefix that Begin32 left at mark.
func (w *Writer) End32(mark int) {
	if w.err != nil || mark < 0 || mark+4 > len(w.buf) {
		return
	}
	l := len(w.buf) - mark - 4
	w.buf[mark], w.buf[mark+1], w.buf[mark+2], w.buf[mark+3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
}
