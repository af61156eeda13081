// Package codec names, for the MLS packages, the TLS presentation language
// encoding that RFC 9420 uses for every structure (RFC 9420 §2.1), including
// the variable-length integer prefix of §2.1.2 for vectors.
//
// The implementation is the module's one codec, internal/tlspl; this
// package keeps the names the MLS code was written against (Writer,
// Reader, Marshal, ...) and adds what is MLS's own: the Marshaler and
// Unmarshaler interfaces and ErrInvalidEnum.
package codec

import (
	"errors"

	"github.com/samizdat-project/samizdat/internal/tlspl"
)

// MaxVarint is the largest length the MLS variable-length integer can hold
// (RFC 9420 §2.1.2: 30 bits).
const MaxVarint = tlspl.MaxVarint

// Errors reported by Reader, wrapped with context.
var (
	ErrShort      = tlspl.ErrTruncated
	ErrTrailing   = tlspl.ErrTrailing
	ErrVarint     = tlspl.ErrVarint
	ErrNonMinimal = tlspl.ErrNonMinimal
	ErrTooLong    = tlspl.ErrTooLarge
	ErrBadBool    = tlspl.ErrBadBool
	// ErrInvalidEnum is an enumeration value RFC 9420 does not define.
	ErrInvalidEnum = errors.New("codec: invalid enumeration value")
)

// Writer accumulates an encoding (tlspl.Writer).
type Writer = tlspl.Writer

// Reader decodes an encoding (tlspl.Reader).
type Reader = tlspl.Reader

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return tlspl.NewReader(b) }

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
