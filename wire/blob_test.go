package wire

import (
	"errors"
	"testing"
)

// blobSamples are the blob messages' samples (golden files).
func blobSamples() []sample {
	return []sample{
		{"PutChunk", 40, &PutChunk{Hash: id32(0x10), Data: fill(0x30, 5)}},
		{"ChunkStored", 40, &ChunkStored{Hash: id32(0x10)}},
		{"HasChunks", 41, &HasChunks{Hashes: []ChunkHash{id32(0x10), id32(0x40)}}},
		{"ChunksHeld", 41, &ChunksHeld{Held: []bool{true, false}}},
		{"GetChunk", 42, &GetChunk{Hash: id32(0x10)}},
		{"Chunk", 42, &Chunk{Hash: id32(0x10), Data: fill(0x30, 5)}},
		{"GetChunkPart", 43, &GetChunkPart{Hash: id32(0x10), Offset: 4096, Length: 2048}},
		{"ChunkPart", 43, &ChunkPart{Hash: id32(0x10), Offset: 4096, Data: fill(0x30, 5)}},
		{"PutChunkPart", 44, &PutChunkPart{Hash: id32(0x10), Size: 9000, Offset: 4096, Data: fill(0x30, 5)}},
		{"ChunkPartStored", 44, &ChunkPartStored{Hash: id32(0x10), Have: 4101}},
	}
}

func TestAdversaryBlobFrames(t *testing.T) {
	cases := map[string][]byte{
		"empty HasChunks":  frame(TypeHasChunks, 1, be32(0)),
		"empty chunk":      frame(TypePutChunk, 1, fill(0, 32), be32(0)),
		"oversize chunk":   frame(TypePutChunk, 1, fill(0, 32), be32(MaxChunk+1)),
		"bad boolean":      frame(TypeChunksHeld, 1, be32(1), []byte{2}),
		"hash list ragged": frame(TypeHasChunks, 1, be32(31), fill(0, 31)),
		"empty part asked": frame(TypeGetChunkPart, 1, fill(0, 32), be32(0), be32(0)),
		"part past chunk":  frame(TypeGetChunkPart, 1, fill(0, 32), be32(MaxChunk), be32(1)),
		"part past size":   frame(TypePutChunkPart, 1, fill(0, 32), be32(4), be32(3), be32(2), fill(1, 2)),
		"zero size":        frame(TypePutChunkPart, 1, fill(0, 32), be32(0), be32(0), be32(1), fill(1, 1)),
		"served past end":  frame(TypeChunkPart, 1, fill(0, 32), be32(MaxChunk), be32(1), fill(1, 1)),
		"have too much":    frame(TypeChunkPartStored, 1, fill(0, 32), be32(MaxChunk+1)),
	}
	for name, b := range cases {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: Decode accepted it", name)
		} else if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: unexpected error %v", name, err)
		}
	}
}

// TestAppendEncode: AppendEncode appends exactly Encode's bytes after what
// dst holds, and a reused buffer's old bytes do not leak into a frame.
func TestAppendEncode(t *testing.T) {
	f := Frame{RequestID: 7, Msg: &PutChunk{Hash: id32(0x10), Data: fill(0x30, 300)}}
	want, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppendEncode([]byte("prefix"), f)
	if err != nil || string(got[:6]) != "prefix" || string(got[6:]) != string(want) {
		t.Fatalf("AppendEncode after a prefix = %x, %v; want prefix then %x", got, err, want)
	}
	small := Frame{RequestID: 8, Msg: &GetChunk{Hash: id32(0x20)}}
	again, err := AppendEncode(got[:0], small)
	if want2, _ := Encode(small); err != nil || string(again) != string(want2) {
		t.Fatalf("AppendEncode into a reused buffer = %x, %v; want %x", again, err, want2)
	}
}

// TestDecodeSharedAliasesChunkBytes: DecodeShared's chunk Data is the
// frame's own bytes (what makes it save a copy), Decode's a copy.
func TestDecodeSharedAliasesChunkBytes(t *testing.T) {
	for _, m := range []Message{&PutChunk{Hash: ChunkHash{1}, Data: []byte("sealed chunk")}, &Chunk{Hash: ChunkHash{2}, Data: []byte("sealed chunk")}} {
		b, err := Encode(Frame{RequestID: 7, Msg: m})
		if err != nil {
			t.Fatal(err)
		}
		copied, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := DecodeShared(b)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := shared.Msg.(*Chunk); ok && &c.Frame()[0] != &b[0] {
			t.Error("DecodeShared's Chunk does not name its frame")
		}
		if c, ok := copied.Msg.(*Chunk); ok && c.Frame() != nil {
			t.Error("Decode's Chunk names a frame it does not share")
		}
		b[len(b)-1] = 'X' // the chunk's last byte
		data := func(f Frame) string {
			if p, ok := f.Msg.(*PutChunk); ok {
				return string(p.Data)
			}
			return string(f.Msg.(*Chunk).Data)
		}
		if got := data(shared); got != "sealed chunX" {
			t.Errorf("%v: DecodeShared's Data is %q, not the frame's bytes", m.Type(), got)
		}
		if got := data(copied); got != "sealed chunk" {
			t.Errorf("%v: Decode's Data is %q: it aliases the frame", m.Type(), got)
		}
	}
}
