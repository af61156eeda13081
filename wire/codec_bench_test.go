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
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range frames {
			if _, err := Encode(f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCodecDecode(b *testing.B) {
	_, encs, total := benchFrames(b)
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range encs {
			if _, err := Decode(e); err != nil {
				b.Fatal(err)
			}
		}
	}
}
