package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// seedFuzz adds every sample's encoding and a few hostile frames.
func seedFuzz(f *testing.F) {
	for _, s := range samples() {
		b, err := Encode(Frame{RequestID: s.id, Msg: s.msg})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(frame(TypeSend, 1, sendBody(1, fill(1, 32), be32(0xffffffff))...))
	f.Add(frame(TypePublishKeyPackages, 1, be32(MaxFrame)))
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// exactly the same bytes (the encoding is canonical) and decodes again to
// an equal frame. DecodeShared accepts exactly what Decode accepts, into
// an equal frame.
func FuzzDecode(f *testing.F) {
	seedFuzz(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		shared, serr := DecodeShared(b)
		if (err == nil) != (serr == nil) {
			t.Fatalf("Decode: %v, DecodeShared: %v", err, serr)
		}
		if c, ok := shared.Msg.(*Chunk); ok {
			if !bytes.Equal(c.Frame(), b) {
				t.Fatal("DecodeShared's Chunk does not name its frame")
			}
			c.frame = nil
		}
		if err == nil && !reflect.DeepEqual(fr, shared) {
			t.Fatalf("DecodeShared gave %+v, Decode %+v", shared, fr)
		}
		if err != nil {
			if fr.Msg != nil {
				t.Fatalf("Decode returned a message with error %v", err)
			}
			return
		}
		out, err := Encode(fr)
		if err != nil {
			t.Fatalf("decoded %v does not re-encode: %v", fr.Msg.Type(), err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n  in %x\n out %x", b, out)
		}
	})
}

// FuzzParseHeader: the header parser never panics and agrees with Decode
// about the version.
func FuzzParseHeader(f *testing.F) {
	seedFuzz(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, herr := ParseHeader(b)
		fr, derr := Decode(b)
		if derr == nil && (herr != nil || h.RequestID != fr.RequestID || h.Type != fr.Msg.Type()) {
			t.Fatalf("Decode accepted %x but ParseHeader says %+v, %v", b, h, herr)
		}
	})
}
