package wire

import "testing"

// The codec benchmarks encode and decode every sample frame once per
// iteration; they guard the shared TLS-presentation-language codec
// (internal/tlspl) against slowing the wire protocol down.
//
//	go test ./wire -run '^$' -bench 'Codec' -count 6

func benchFrames(b *testing.B) ([]Frame, [][]byte, int) {
	b.Helper()
	var frames []Frame
	var encs [][]byte
	total := 0
	for _, s := range samples() {
		f := Frame{RequestID: s.id, Msg: s.msg}
		enc, err := Encode(f)
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, f)
		encs = append(encs, enc)
		total += len(enc)
	}
	return frames, encs, total
}

func BenchmarkCodecEncode(b *testing.B) {
	frames, _, total := benchFrames(b)
	benchEach(b, total, frames, func(f Frame) error { _, err := Encode(f); return err })
}

func BenchmarkCodecDecode(b *testing.B) {
	_, encs, total := benchFrames(b)
	benchEach(b, total, encs, func(e []byte) error { _, err := Decode(e); return err })
}

// benchEach runs op on every item once per iteration; an iteration
// handles total bytes of frames.
func benchEach[T any](b *testing.B, total int, items []T, op func(T) error) {
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, it := range items {
			if err := op(it); err != nil {
				b.Fatal(err)
			}
		}
	}
}
