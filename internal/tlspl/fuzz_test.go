package tlspl

import (
	"bytes"
	"testing"
)

// FuzzReader: a Reader never panics, and every field it accepts
// re-encodes to exactly the bytes it consumed (the encoding is canonical).
// The fuzzer's first byte picks the sequence of field kinds to read.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0x00, 0x05, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x1b, 0x40, 0x40, 0, 0, 0, 1, 'x', 1})
	f.Add([]byte{0xff, 0xc0, 0, 0, 0})
	f.Add([]byte{0x24, 0, 0, 0, 3, 0, 1, 2, 0x80, 0, 0x40, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		plan, in := b[0], b[1:]
		r := NewReader(in)
		var w Writer
		for i := 0; i < 4 && r.Err() == nil; i++ {
			switch (plan >> (2 * i)) & 3 {
			case 0:
				w.VarBytes(r.VarBytes())
			case 1:
				w.Varint(r.Varint())
			case 2:
				v := r.Opaque32(64)
				w.Opaque32(v)
			case 3:
				w.Bool(r.Bool())
			}
		}
		if r.Err() != nil {
			return
		}
		consumed := in[:len(in)-r.Len()]
		out, err := w.Result()
		if err != nil {
			t.Fatalf("accepted input does not re-encode: %v", err)
		}
		if !bytes.Equal(out, consumed) {
			t.Fatalf("re-encoding differs:\n  in %x\n out %x", consumed, out)
		}
	})
}
