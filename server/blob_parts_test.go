package server_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/samizdat-project/samizdat/wire"
)

// TestBlobParts: a chunk stored in parts (docs/spec/attachments.md §5.1)
// is held only once whole, is charged to the quota once, and is served
// back in parts; a part that does not start where the server's copy ends
// is not written, and the answer says where it does.
func TestBlobParts(t *testing.T) {
	q := &denyQuota{}
	ts, _ := startBlobServer(t, q)
	c := connect(t, ts, newIdentity(newAccount()))
	data := bytes.Repeat([]byte{7, 8, 9}, 30) // 90 bytes, within the quota of 100
	h := wire.ChunkHash(sha256.Sum256(data))
	put := func(off, n int) uint32 {
		t.Helper()
		return c.must(&wire.PutChunkPart{Hash: h, Size: 90, Offset: uint32(off), Data: data[off : off+n]}, wire.TypeChunkPartStored).(*wire.ChunkPartStored).Have
	}
	if have := put(0, 40); have != 40 {
		t.Fatalf("have %d after 40 bytes", have)
	}
	if have := put(50, 10); have != 40 {
		t.Fatalf("a part past the end: have %d, want 40", have)
	}
	c.wantError(&wire.GetChunk{Hash: h}, wire.CodeNotFound) // not whole yet
	if have := put(40, 50); have != 90 {
		t.Fatalf("have %d after the last part, want 90", have)
	}
	if q.charged != 90 {
		t.Fatalf("charged %d bytes, want 90 once", q.charged)
	}
	var got []byte
	for off := 0; off < 100; off += 32 {
		p := c.must(&wire.GetChunkPart{Hash: h, Offset: uint32(off), Length: 32}, wire.TypeChunkPart).(*wire.ChunkPart)
		got = append(got, p.Data...)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("the parts served make %d bytes that differ from the chunk", len(got))
	}
}

// TestAdversaryBlobPartsWrongHash: bytes sent in parts under another
// chunk's address are refused once complete, and nothing is stored.
func TestAdversaryBlobPartsWrongHash(t *testing.T) {
	ts, _ := startBlobServer(t, nil)
	c := connect(t, ts, newIdentity(newAccount()))
	h := wire.ChunkHash(sha256.Sum256([]byte("the real chunk")))
	c.must(&wire.PutChunkPart{Hash: h, Size: 10, Offset: 0, Data: []byte("poiso")}, wire.TypeChunkPartStored)
	c.wantError(&wire.PutChunkPart{Hash: h, Size: 10, Offset: 5, Data: []byte("n!!!!")}, wire.CodeBadRequest)
	c.wantError(&wire.GetChunk{Hash: h}, wire.CodeNotFound)
	c.wantError(&wire.GetChunkPart{Hash: h, Length: 10}, wire.CodeNotFound)
	if have := c.must(&wire.PutChunkPart{Hash: h, Size: 10, Offset: 9, Data: []byte("x")}, wire.TypeChunkPartStored).(*wire.ChunkPartStored).Have; have != 0 {
		t.Fatalf("the refused partial copy was kept: have %d", have)
	}
}
