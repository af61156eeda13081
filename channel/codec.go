package channel

import (
	"errors"

	"github.com/samizdat-project/samizdat/internal/tlspl"
)

// The encodings are the TLS presentation language (RFC 8446 §3) as in
// docs/spec/wire.md: big-endian integers, fixed-size arrays, and opaque
// fields with a uint32 length prefix. The encoding itself is the module's
// one codec, internal/tlspl; reader names each field so that an error says
// where it happened.

// Errors wrapped by the decoders and verifiers.
var (
	ErrTruncated = tlspl.ErrTruncated
	ErrTrailing  = tlspl.ErrTrailing
	ErrTooLarge  = tlspl.ErrTooLarge
	ErrInvalid   = tlspl.ErrInvalid
	ErrSignature = errors.New("bad signature")
	ErrNotAdmin  = errors.New("signer is not the owner nor a current admin")
)

type writer struct{ tlspl.Writer }

// newWriter returns a writer that appends to buf (a signature context, or
// a buffer sized in advance).
func newWriter(buf []byte) writer { return writer{tlspl.MakeWriter(buf)} }

func (w *writer) u8(v uint8)      { w.Uint8(v) }
func (w *writer) u32(v uint32)    { w.Uint32(v) }
func (w *writer) u64(v uint64)    { w.Uint64(v) }
func (w *writer) fixed(b []byte)  { w.Raw(b) }
func (w *writer) opaque(b []byte) { w.Opaque32(b) }

type reader struct{ tlspl.Reader }

// newReader returns a reader over b.
func newReader(b []byte) reader { return reader{tlspl.MakeReader(b)} }

func (r *reader) u8(field string) uint8          { return r.Uint8Field(field) }
func (r *reader) u32(field string) uint32        { return r.Uint32Field(field) }
func (r *reader) u64(field string) uint64        { return r.Uint64Field(field) }
func (r *reader) fixed(field string, dst []byte) { r.FixedField(field, dst) }

// opaque reads a uint32-prefixed field of at most max bytes, checking the
// declared length before allocating; it returns a copy (nil when empty).
func (r *reader) opaque(field string, max int) []byte { return r.Opaque32Field(field, max) }

func (r *reader) done() error { return r.Done() }
