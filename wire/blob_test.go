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
