package wire

import "fmt"

// Blob messages (docs/spec/wire.md, "Blobs"; docs/spec/attachments.md): a
// registered device stores and fetches encrypted attachment chunks,
// addressed by the SHA-256 of their bytes. The server checks the hash
// before it writes a chunk and acknowledges only once it is on disk.
const (
	TypePutChunk  Type = 0x0070
	TypeHasChunks Type = 0x0071
	TypeGetChunk  Type = 0x0072

	TypeChunkStored Type = 0x0170
	TypeChunksHeld  Type = 0x0171
	TypeChunk       Type = 0x0172
)

// MaxChunk bounds one chunk (256 KiB of plaintext and a 16-byte tag, with
// room to spare); MaxHasChunks bounds the hashes of one HasChunks.
const (
	MaxChunk     = 256<<10 + 64
	MaxHasChunks = 4096
)

// ChunkHash is the SHA-256 of a chunk's bytes: its address.
type ChunkHash [32]byte

// PutChunk stores Data under Hash. Answer: ChunkStored once the chunk is
// durable (also when the server already had it), or Error: BadRequest if
// Hash is not SHA-256(Data), QuotaExceeded or StorageFull if it cannot be
// kept.
type PutChunk struct {
	Hash ChunkHash
	Data []byte // 1..MaxChunk bytes
}

// ChunkStored answers PutChunk.
type ChunkStored struct {
	Hash ChunkHash
}

// HasChunks asks which of Hashes the server holds (and keeps them from
// expiring for another retention period). Answer: ChunksHeld.
type HasChunks struct {
	Hashes []ChunkHash // 1..MaxHasChunks
}

// ChunksHeld answers HasChunks: Held[i] says whether Hashes[i] is stored.
type ChunksHeld struct {
	Held []bool // as many as the request's hashes
}

// GetChunk fetches one chunk. Answer: Chunk, or NotFound.
type GetChunk struct {
	Hash ChunkHash
}

// Chunk answers GetChunk. The client checks SHA-256(Data) == Hash.
type Chunk struct {
	Hash ChunkHash
	Data []byte // 1..MaxChunk bytes
}

func (*PutChunk) Type() Type    { return TypePutChunk }
func (*ChunkStored) Type() Type { return TypeChunkStored }
func (*HasChunks) Type() Type   { return TypeHasChunks }
func (*ChunksHeld) Type() Type  { return TypeChunksHeld }
func (*GetChunk) Type() Type    { return TypeGetChunk }
func (*Chunk) Type() Type       { return TypeChunk }

func (m *PutChunk) encode(w *writer) { w.fixed(m.Hash[:]); w.bytes("data", m.Data, 1, MaxChunk) }
func (m *PutChunk) decode(r *reader) {
	r.fixed("hash", m.Hash[:])
	m.Data = r.bytes("data", 1, MaxChunk)
}
func (*PutChunk) validate() error { return nil }

func (m *ChunkStored) encode(w *writer) { w.fixed(m.Hash[:]) }
func (m *ChunkStored) decode(r *reader) { r.fixed("hash", m.Hash[:]) }
func (*ChunkStored) validate() error    { return nil }

func (m *HasChunks) encode(w *writer) {
	w.list("hashes", len(m.Hashes), MaxHasChunks, func(w *writer, i int) { w.fixed(m.Hashes[i][:]) })
}

func (m *HasChunks) decode(r *reader) {
	r.list("hashes", MaxHasChunks, MaxHasChunks*32, func(r *reader) {
		var h ChunkHash
		r.fixed("hash", h[:])
		m.Hashes = append(m.Hashes, h)
	})
}

func (m *HasChunks) validate() error {
	if len(m.Hashes) == 0 {
		return fmt.Errorf("hashes: %w: at least one hash required", ErrInvalid)
	}
	return nil
}

func (m *ChunksHeld) encode(w *writer) {
	w.list("held", len(m.Held), MaxHasChunks, func(w *writer, i int) { w.boolean(m.Held[i]) })
}

func (m *ChunksHeld) decode(r *reader) {
	r.list("held", MaxHasChunks, MaxHasChunks, func(r *reader) { m.Held = append(m.Held, r.boolean("held")) })
}

func (*ChunksHeld) validate() error { return nil }

func (m *GetChunk) encode(w *writer) { w.fixed(m.Hash[:]) }
func (m *GetChunk) decode(r *reader) { r.fixed("hash", m.Hash[:]) }
func (*GetChunk) validate() error    { return nil }

func (m *Chunk) encode(w *writer) { w.fixed(m.Hash[:]); w.bytes("data", m.Data, 1, MaxChunk) }
func (m *Chunk) decode(r *reader) { r.fixed("hash", m.Hash[:]); m.Data = r.bytes("data", 1, MaxChunk) }
func (*Chunk) validate() error    { return nil }

// blobMessages lists the blob (attachment chunk) messages, each request with
// the type that answers it.
var blobMessages = []kind{
	msg[PutChunk](TypeChunkStored),
	msg[HasChunks](TypeChunksHeld),
	msg[GetChunk](TypeChunk),
	msg[ChunkStored](0),
	msg[ChunksHeld](0),
	msg[Chunk](0),
}
