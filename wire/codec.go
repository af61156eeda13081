package wire

import (
	"fmt"
	"unicode/utf8"

	"github.com/samizdat-project/samizdat/internal/tlspl"
)

// The codec is the TLS presentation language (RFC 8446 §3) reduced to what the
// wire protocol uses: big-endian fixed-width integers, fixed-size opaque
// arrays, uint8 booleans, and variable-length fields with a uint32 byte-length
// prefix. Lists are variable-length fields whose body is their elements
// concatenated. The encoding itself is the module's one codec,
// internal/tlspl; writer and reader name each field so that an error says
// where it happened, and bound every length.

// writer accumulates an encoding.
type writer struct{ tlspl.Writer }

// newWriter returns a writer that appends to buf.
func newWriter(buf []byte) writer { return writer{tlspl.MakeWriter(buf)} }

func (w *writer) fail(field string, err error) { w.Fail(field, err) }

func (w *writer) u8(v uint8)     { w.Uint8(v) }
func (w *writer) u16(v uint16)   { w.Uint16(v) }
func (w *writer) u32(v uint32)   { w.Uint32(v) }
func (w *writer) u64(v uint64)   { w.Uint64(v) }
func (w *writer) boolean(v bool) { w.Bool(v) }
func (w *writer) fixed(b []byte) { w.Raw(b) } // a fixed-size array, no prefix

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
	w.Opaque32(b)
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
	at := w.Begin32()
	for i := 0; i < n && w.Err() == nil; i++ {
		each(w, i)
	}
	w.End32(at)
}

// reader decodes an encoding. Reads after an error return zero values.
// Every returned byte slice is a copy (decoded messages never alias the
// input) except the chunk bytes of a DecodeShared reader (share set).
type reader struct {
	tlspl.Reader
	share bool
	frame []byte // the whole frame, when share is set
}

// newReader returns a reader over b.
func newReader(b []byte) reader { return reader{Reader: tlspl.MakeReader(b)} }

func (r *reader) fail(field string, err error) { r.Fail(field, err) }

func (r *reader) u8(field string) uint8          { return r.Uint8Field(field) }
func (r *reader) u16(field string) uint16        { return r.Uint16Field(field) }
func (r *reader) u32(field string) uint32        { return r.Uint32Field(field) }
func (r *reader) u64(field string) uint64        { return r.Uint64Field(field) }
func (r *reader) boolean(field string) bool      { return r.BoolField(field) } // 0 or 1
func (r *reader) fixed(field string, dst []byte) { r.FixedField(field, dst) }

// bytes reads opaque<min..max> and returns a copy (nil when empty).
func (r *reader) bytes(field string, min, max int) []byte {
	b := r.Opaque32Field(field, max)
	if r.Err() != nil {
		return nil
	}
	if len(b) < min {
		r.fail(field, fmt.Errorf("%w: %d bytes, at least %d required", ErrInvalid, len(b), min))
		return nil
	}
	return b
}

// chunk reads opaque<1..MaxChunk>, the bytes of an attachment chunk: a
// copy, or with share set the input's own bytes (no copy).
func (r *reader) chunk(field string) []byte {
	if !r.share {
		return r.bytes(field, 1, MaxChunk)
	}
	body := r.Vector32(MaxChunk)
	r.Label(field)
	if r.Err() != nil {
		return nil
	}
	b := body.Remaining()
	if len(b) == 0 {
		r.fail(field, fmt.Errorf("%w: 0 bytes, at least 1 required", ErrInvalid))
		return nil
	}
	return b
}

// text reads a UTF-8 string of at most max bytes.
func (r *reader) text(field string, max int) string {
	b := r.bytes(field, 0, max)
	if r.Err() == nil && !utf8.Valid(b) {
		r.fail(field, fmt.Errorf("%w: not valid UTF-8", ErrInvalid))
		return ""
	}
	return string(b)
}

// done reports the first error, or ErrTrailing if input is left over.
func (r *reader) done() error { return r.Done() }

// coder encodes or decodes one message: each message lists its fields once,
// in order, in its code method, and the coder either writes each field
// (encoding) or reads it into the message (decoding). Decoding keeps every
// bound of the reader; encoding every check of the writer. A coder is two
// pointers and travels by value, so that coding a message allocates only
// its writer or reader, as before.
type coder struct {
	w *writer // set when encoding
	r *reader // set when decoding
}

// scalar codes a fixed-width field with read or write; a decoding error
// names field.
func scalar[T any](c coder, field string, v *T, read func(r *reader, field string) T, write func(w *writer, v T)) {
	if c.r != nil {
		*v = read(c.r, field)
	} else {
		write(c.w, *v)
	}
}

func (c coder) u8(field string, v *uint8)   { scalar(c, field, v, (*reader).u8, (*writer).u8) }
func (c coder) u16(field string, v *uint16) { scalar(c, field, v, (*reader).u16, (*writer).u16) }
func (c coder) u32(field string, v *uint32) { scalar(c, field, v, (*reader).u32, (*writer).u32) }
func (c coder) u64(field string, v *uint64) { scalar(c, field, v, (*reader).u64, (*writer).u64) }
func (c coder) boolean(field string, v *bool) {
	scalar(c, field, v, (*reader).boolean, (*writer).boolean)
}

// fixed codes a fixed-size array (b is the array's slice), no prefix.
func (c coder) fixed(field string, b []byte) {
	if c.r != nil {
		c.r.fixed(field, b)
	} else {
		c.w.fixed(b)
	}
}

// bytes codes opaque<min..max> with a uint32 length prefix.
func (c coder) bytes(field string, b *[]byte, min, max int) {
	if c.r != nil {
		*b = c.r.bytes(field, min, max)
	} else {
		c.w.bytes(field, *b, min, max)
	}
}

// chunk codes opaque<1..MaxChunk>, the bytes of an attachment chunk (see
// reader.chunk for the sharing of a DecodeShared reader).
func (c coder) chunk(field string, b *[]byte) {
	if c.r != nil {
		*b = c.r.chunk(field)
	} else {
		c.w.bytes(field, *b, 1, MaxChunk)
	}
}

// text codes a UTF-8 string of at most max bytes.
func (c coder) text(field string, s *string, max int) {
	if c.r != nil {
		*s = c.r.text(field, max)
	} else {
		c.w.text(field, *s, max)
	}
}

// codeList codes a list of at most max elements, each coded by each (i is
// the element's index), prefixed by the uint32 byte length of the
// elements. Decoding appends to *s, reading each element from the list's
// own sub-reader, which must end exactly at the declared length; maxBytes
// bounds the declared length.
func codeList[T any](c coder, field string, s *[]T, max, maxBytes int, each func(c coder, i int, e *T)) {
	if c.r == nil {
		c.w.list(field, len(*s), max, func(_ *writer, i int) { each(c, i, &(*s)[i]) })
		return
	}
	r := c.r
	sub := &reader{Reader: r.Vector32(maxBytes), share: r.share, frame: r.frame}
	if r.Err() != nil {
		r.Label(field)
		return
	}
	var zero T
	for count := 0; sub.Len() > 0 && sub.Err() == nil; count++ {
		if count == max {
			r.fail(field, fmt.Errorf("%w: more than %d entries", ErrTooLarge, max))
			return
		}
		*s = append(*s, zero) // decoded in place: no element escapes to the heap
		each(coder{r: sub}, count, &(*s)[len(*s)-1])
	}
	if err := sub.Err(); err != nil {
		r.fail(field, err)
	}
}
