package tlspl

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestVarintBoundaries: the MLS variable-length integer round-trips at
// each width's edges, and the decoder rejects non-minimal encodings and
// the reserved prefix (RFC 9420 §2.1.2).
func TestVarintBoundaries(t *testing.T) {
	for _, v := range []uint64{0, 63, 64, 16383, 16384, MaxVarint} {
		var w Writer
		w.Varint(v)
		b, err := w.Result()
		if err != nil {
			t.Fatalf("%d: %v", v, err)
		}
		r := NewReader(b)
		if got := r.Varint(); got != v || r.Done() != nil {
			t.Fatalf("%d: read %d, %v", v, got, r.Done())
		}
	}
	var w Writer
	w.Varint(MaxVarint + 1)
	if _, err := w.Result(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("2^30: %v, want ErrTooLarge", err)
	}
	for in, want := range map[string]error{
		"\x40\x01":         ErrNonMinimal,
		"\x80\x00\x3f\xff": ErrNonMinimal,
		"\xc0\x00\x00\x00": ErrVarint,
		"\x40":             ErrTruncated,
	} {
		r := NewReader([]byte(in))
		r.Varint()
		if err := r.Err(); !errors.Is(err, want) {
			t.Errorf("%x: %v, want %v", in, err, want)
		}
		if want != ErrTruncated && !errors.Is(r.Err(), ErrInvalid) {
			t.Errorf("%x: %v does not wrap ErrInvalid", in, r.Err())
		}
	}
}

// TestLength32BeforeAllocation: a declared length beyond the limit or the
// input is refused with the right error, and nothing past it is read.
func TestLength32BeforeAllocation(t *testing.T) {
	r := NewReader([]byte{0xff, 0xff, 0xff, 0xff, 1, 2})
	if b := r.Opaque32(1 << 20); b != nil || !errors.Is(r.Err(), ErrTooLarge) {
		t.Fatalf("over the limit: %x, %v", b, r.Err())
	}
	r = NewReader([]byte{0, 0, 0, 9, 1, 2})
	if b := r.Opaque32(100); b != nil || !errors.Is(r.Err(), ErrTruncated) {
		t.Fatalf("past the input: %x, %v", b, r.Err())
	}
	if r.Uint8() != 0 || r.Len() != 0 {
		t.Fatal("a read after an error returned data")
	}
}

// TestLabelNamesTheFirstFailure: the field named after the first failing
// read prefixes the error, and later labels do not stack on it.
func TestLabelNamesTheFirstFailure(t *testing.T) {
	r := NewReader([]byte{0, 1, 2})
	r.Uint16()
	r.Label("version")
	r.Uint32()
	r.Label("length")
	r.Uint8()
	r.Label("flag")
	err := r.Done()
	if !errors.Is(err, ErrTruncated) || !strings.HasPrefix(err.Error(), "length: truncated") {
		t.Fatalf("got %v, want it to start with %q", err, "length: truncated")
	}
	r = NewReader([]byte{7})
	r.Fail("kind", ErrInvalid)
	r.Label("other")
	if got := r.Err().Error(); got != "kind: invalid value" {
		t.Fatalf("got %q", got)
	}
}

// TestReaderCopies: decoded bytes never alias the input.
func TestReaderCopies(t *testing.T) {
	in := []byte{0, 0, 0, 2, 'a', 'b', 2, 'c', 'd', 'e', 'f'}
	r := NewReader(in)
	x := r.Opaque32(10)
	y := r.VarBytes()
	z := r.Raw(2)
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 0
	}
	if string(x) != "ab" || string(y) != "cd" || string(z) != "ef" {
		t.Fatalf("decoded bytes alias the input: %q %q %q", x, y, z)
	}
}

// TestBegin32End32: a uint32-prefixed body is measured after it is
// written, and an error leaves the placeholder as it is.
func TestBegin32End32(t *testing.T) {
	var w Writer
	m := w.Begin32()
	w.Uint16(7)
	w.Raw([]byte("xyz"))
	w.End32(m)
	if got := w.Bytes(); !bytes.Equal(got, []byte{0, 0, 0, 5, 0, 7, 'x', 'y', 'z'}) {
		t.Fatalf("got %x", got)
	}
	r := NewReader(w.Bytes())
	sub := r.Vector32(5)
	if r.Done() != nil || sub.Uint16() != 7 || string(sub.Raw(3)) != "xyz" || sub.Done() != nil {
		t.Fatal("Vector32 does not read back what Begin32/End32 wrote")
	}
}

// TestBoolRejectsOtherValues: booleans and optional markers are 0 or 1.
func TestBoolRejectsOtherValues(t *testing.T) {
	r := NewReader([]byte{2})
	r.Bool()
	if !errors.Is(r.Err(), ErrBadBool) || !errors.Is(r.Err(), ErrInvalid) {
		t.Fatalf("got %v", r.Err())
	}
}
