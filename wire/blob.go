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
	// Parts of a chunk, for paths that freeze a connection after a few KB
	// (docs/spec/attachments.md §5.1).
	TypeGetChunkPart Type = 0x0073
	TypePutChunkPart Type = 0x0074

	TypeChunkStored     Type = 0x0170
	TypeChunksHeld      Type = 0x0171
	TypeChunk           Type = 0x0172
	TypeChunkPart       Type = 0x0173
	TypeChunkPartStored Type = 0x0174
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

	frame []byte // the frame Data is part of (DecodeShared); nil for a copy
}

// Frame returns the frame that Data is part of when m was decoded by
// DecodeShared, nil otherwise: its owner may reuse it once Data is used.
func (m *Chunk) Frame() []byte { return m.frame }

// GetChunkPart fetches Length bytes of a chunk from Offset. Answer:
// ChunkPart (fewer bytes, or none, past the chunk's end), or NotFound.
type GetChunkPart struct {
	Hash   ChunkHash
	Offset uint32 // < MaxChunk
	Length uint32 // 1..MaxChunk
}

// ChunkPart answers GetChunkPart: the bytes from Offset. The client checks
// the whole chunk's hash once it has every part.
type ChunkPart struct {
	Hash   ChunkHash
	Offset uint32
	Data   []byte // 0..MaxChunk bytes
}

// PutChunkPart stores Data at Offset of the chunk Hash of Size bytes. The
// server appends it only if Offset is where its partial copy ends; once it
// has Size bytes it checks the hash and stores the chunk as PutChunk does.
// Answer: ChunkPartStored, or Error as for PutChunk.
type PutChunkPart struct {
	Hash   ChunkHash
	Size   uint32 // the whole chunk: 1..MaxChunk
	Offset uint32 // < Size
	Data   []byte // 1..Size-Offset bytes
}

// ChunkPartStored answers PutChunkPart: how many bytes of the chunk the
// server holds from its start (Have == Size: the chunk is stored and
// durable). A client sends the next part from Have.
type ChunkPartStored struct {
	Hash ChunkHash
	Have uint32
}

func (*PutChunk) Type() Type    { return TypePutChunk }
func (*ChunkStored) Type() Type { return TypeChunkStored }
func (*HasChunks) Type() Type   { return TypeHasChunks }
func (*ChunksHeld) Type() Type  { return TypeChunksHeld }
func (*GetChunk) Type() Type    { return TypeGetChunk }
func (*Chunk) Type() Type       { return TypeChunk }

func (*GetChunkPart) Type() Type    { return TypeGetChunkPart }
func (*ChunkPart) Type() Type       { return TypeChunkPart }
func (*PutChunkPart) Type() Type    { return TypePutChunkPart }
func (*ChunkPartStored) Type() Type { return TypeChunkPartStored }

func (m *PutChunk) code(c coder) {
	c.fixed("hash", m.Hash[:])
	c.chunk("data", &m.Data)
}
func (*PutChunk) validate() error { return nil }

func (m *ChunkStored) code(c coder)  { c.fixed("hash", m.Hash[:]) }
func (*ChunkStored) validate() error { return nil }

func (m *HasChunks) code(c coder) {
	codeList(c, "hashes", &m.Hashes, MaxHasChunks, MaxHasChunks*32, func(c coder, _ int, h *ChunkHash) { c.fixed("hash", h[:]) })
}

func (m *HasChunks) validate() error {
	if len(m.Hashes) == 0 {
		return fmt.Errorf("hashes: %w: at least one hash required", ErrInvalid)
	}
	return nil
}

func (m *ChunksHeld) code(c coder) {
	codeList(c, "held", &m.Held, MaxHasChunks, MaxHasChunks, func(c coder, _ int, h *bool) { c.boolean("held", h) })
}

func (*ChunksHeld) validate() error { return nil }

func (m *GetChunk) code(c coder)  { c.fixed("hash", m.Hash[:]) }
func (*GetChunk) validate() error { return nil }

func (m *Chunk) code(c coder) {
	c.fixed("hash", m.Hash[:])
	c.chunk("data", &m.Data)
	if c.r != nil && m.Data != nil {
		m.frame = c.r.frame
	}
}
func (*Chunk) validate() error { return nil }

// ChunkPrefixSize is the size of a Chunk frame before its data: the frame
// header, the hash and the data's uint32 length.
const ChunkPrefixSize = HeaderSize + len(ChunkHash{}) + 4

// PutChunkPrefix writes into b[:ChunkPrefixSize] the start of the Chunk
// frame answering requestID with n bytes of chunk hash: with those n bytes
// at b[ChunkPrefixSize:], b[:ChunkPrefixSize+n] is the frame AppendEncode
// makes of it. A server reads a chunk from its store straight into the
// frame this way instead of copying it there (server/blob.go).
func PutChunkPrefix(b []byte, requestID uint32, hash ChunkHash, n int) error {
	if len(b) < ChunkPrefixSize {
		return fmt.Errorf("wire: encoding %v: %w: %d bytes of room for the frame's start, want %d", TypeChunk, ErrInvalid, len(b), ChunkPrefixSize)
	}
	if err := checkRequestID(TypeChunk, requestID); err != nil {
		return fmt.Errorf("wire: encoding %v: %w", TypeChunk, err)
	}
	if n < 1 || n > MaxChunk {
		return fmt.Errorf("wire: encoding %v: %w: %d bytes of data, want 1..%d", TypeChunk, ErrInvalid, n, MaxChunk)
	}
	w := newWriter(b[:0:ChunkPrefixSize]) // within b: no allocation
	w.u16(Version)
	w.u16(uint16(TypeChunk))
	w.u32(requestID)
	w.fixed(hash[:])
	w.u32(uint32(n))
	return w.Err()
}

func (m *GetChunkPart) code(c coder) {
	c.fixed("hash", m.Hash[:])
	c.u32("offset", &m.Offset)
	c.u32("length", &m.Length)
}

func (m *GetChunkPart) validate() error {
	if m.Offset >= MaxChunk || m.Length == 0 || m.Length > MaxChunk {
		return fmt.Errorf("offset %d, length %d: %w: want offset < %d and 1 <= length <= %d", m.Offset, m.Length, ErrInvalid, MaxChunk, MaxChunk)
	}
	return nil
}

func (m *ChunkPart) code(c coder) {
	c.fixed("hash", m.Hash[:])
	c.u32("offset", &m.Offset)
	c.bytes("data", &m.Data, 0, MaxChunk)
}

func (m *ChunkPart) validate() error {
	if int64(m.Offset)+int64(len(m.Data)) > MaxChunk {
		return fmt.Errorf("offset %d: %w: the part ends past %d bytes", m.Offset, ErrInvalid, MaxChunk)
	}
	return nil
}

func (m *PutChunkPart) code(c coder) {
	c.fixed("hash", m.Hash[:])
	c.u32("size", &m.Size)
	c.u32("offset", &m.Offset)
	c.bytes("data", &m.Data, 1, MaxChunk)
}

func (m *PutChunkPart) validate() error {
	if m.Size == 0 || m.Size > MaxChunk || int64(m.Offset)+int64(len(m.Data)) > int64(m.Size) {
		return fmt.Errorf("size %d, offset %d: %w: want 1 <= size <= %d and the part inside it", m.Size, m.Offset, ErrInvalid, MaxChunk)
	}
	return nil
}

func (m *ChunkPartStored) code(c coder) { c.fixed("hash", m.Hash[:]); c.u32("have", &m.Have) }
func (m *ChunkPartStored) validate() error {
	if m.Have > MaxChunk {
		return fmt.Errorf("have %d: %w: more than %d", m.Have, ErrInvalid, MaxChunk)
	}
	return nil
}

// sizeHint is about the encoded size of a message that carries chunk
// bytes (Encode allocates it at once).
func (m *PutChunk) sizeHint() int     { return 64 + len(m.Data) }
func (m *Chunk) sizeHint() int        { return 64 + len(m.Data) }
func (m *ChunkPart) sizeHint() int    { return 64 + len(m.Data) }
func (m *PutChunkPart) sizeHint() int { return 64 + len(m.Data) }

// blobMessages lists the blob (attachment chunk) messages, each request with
// the type that answers it.
var blobMessages = []kind{
	msg[PutChunk](TypeChunkStored),
	msg[HasChunks](TypeChunksHeld),
	msg[GetChunk](TypeChunk),
	msg[ChunkStored](0),
	msg[ChunksHeld](0),
	msg[Chunk](0),
	msg[GetChunkPart](TypeChunkPart),
	msg[PutChunkPart](TypeChunkPartStored),
	msg[ChunkPart](0),
	msg[ChunkPartStored](0),
}
