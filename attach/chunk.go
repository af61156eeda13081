package attach

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"golang.org/x/crypto/chacha20poly1305"
)

// Format constants (docs/spec/attachments.md §2).
const (
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize = 256 << 10
	// Overhead is what sealing adds to a chunk (the Poly1305 tag).
	Overhead = chacha20poly1305.Overhead
	// MaxSealedChunk is the largest sealed chunk.
	MaxSealedChunk = ChunkSize + Overhead
	// MaxChunks bounds the chunks of one attachment, so that its
	// descriptor fits in one MLS message (128 KiB of hashes).
	MaxChunks = 4096
	// MaxSize is the largest file this version carries (1 GiB).
	MaxSize = int64(MaxChunks) * ChunkSize
)

// chunkContext starts every chunk's associated data.
const chunkContext = "samizdat attachment chunk v1"

// Key is an attachment's file key: fresh and random for every file.
type Key [32]byte

// Hash is the SHA-256 of a sealed chunk: its address in a blob store.
type Hash [32]byte

// HashOf returns the address of a sealed chunk.
func HashOf(sealed []byte) Hash { return sha256.Sum256(sealed) }

// Errors of Opener.Open and the codec; each is wrapped with what it is about.
var (
	ErrTooLarge = errors.New("attach: file too large")
	ErrIndex    = errors.New("attach: chunk index out of range")
	ErrHash     = errors.New("attach: chunk does not match its hash in the descriptor")
	ErrLength   = errors.New("attach: chunk has the wrong length")
	ErrAuth     = errors.New("attach: chunk failed authentication")
	ErrPadding  = errors.New("attach: padding is not zero")
	ErrChanged  = errors.New("attach: the file changed while it was being sent")
)

// NewKey returns a fresh random file key.
func NewKey() Key {
	var k Key
	rand.Read(k[:])
	return k
}

// PaddedSize is the size a file of size bytes is padded to before it is
// chunked: Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted
// Files and Communication with PURBs", PETS 2019), which leaks O(log log n)
// bits of the size with at most 12% overhead (docs/spec/attachments.md §3).
func PaddedSize(size int64) int64 {
	if size < 2 {
		return size
	}
	e := 63 - bits.LeadingZeros64(uint64(size)) // floor(log2 size)
	s := 64 - bits.LeadingZeros64(uint64(e))    // floor(log2 e) + 1
	mask := int64(1)<<(e-s) - 1
	return (size + mask) &^ mask
}

// ChunkCount is the number of chunks of a file of size bytes (at least 1:
// an empty file is one empty chunk).
func ChunkCount(size int64) int {
	p := PaddedSize(size)
	n := int((p + ChunkSize - 1) / ChunkSize)
	return max(n, 1)
}

// plainLen is the padded plaintext length of chunk i of n for a file of
// size bytes.
func plainLen(size int64, i, n int) int {
	if i < n-1 {
		return ChunkSize
	}
	return int(PaddedSize(size) - int64(n-1)*ChunkSize)
}

func newAEAD(k Key) cipher.AEAD {
	a, err := chacha20poly1305.New(k[:])
	if err != nil {
		panic("attach: chacha20poly1305 rejected a 32-byte key: " + err.Error())
	}
	return a
}

// nonce is the index of the chunk: each key seals each index at most once
// with a given plaintext (Sealer is deterministic, see §2 of the spec).
func nonce(i int) []byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[4:], uint64(i))
	return n[:]
}

// ad binds the chunk's index and the file's chunk count: a chunk moved to
// another position, or a file cut short or extended, fails to open.
func ad(i, n int) []byte {
	b := make([]byte, 0, len(chunkContext)+8)
	b = append(b, chunkContext...)
	b = binary.BigEndian.AppendUint32(b, uint32(i))
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// Sealer seals the chunks of one file read from src. Sealing is
// deterministic (same key, index and bytes give the same chunk), so an
// interrupted upload re-seals exactly the chunks the server may already
// hold. The caller must never seal different bytes under the same key at
// one index: the client records each chunk's hash before sending it and
// compares on every later seal (docs/spec/attachments.md §2.2). Seal is
// safe for concurrent use (the AEAD is stateless, src is read with ReadAt).
type Sealer struct {
	aead cipher.AEAD
	src  io.ReaderAt
	size int64
	n    int
}

// NewSealer prepares to seal size bytes of src under key.
func NewSealer(key Key, src io.ReaderAt, size int64) (*Sealer, error) {
	if size < 0 || size > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, this version carries at most %d", ErrTooLarge, size, MaxSize)
	}
	return &Sealer{aead: newAEAD(key), src: src, size: size, n: ChunkCount(size)}, nil
}

// Count returns the number of chunks.
func (s *Sealer) Count() int { return s.n }

// Seal reads chunk i, pads it with zeros past the end of the file, and
// returns it sealed with its hash. The chunk is read and sealed in place
// in buf's storage if it has room (MaxSealedChunk), so that a caller that
// reuses buf allocates nothing per chunk.
func (s *Sealer) Seal(i int, buf []byte) ([]byte, Hash, error) {
	if i < 0 || i >= s.n {
		return nil, Hash{}, fmt.Errorf("%w: %d of %d", ErrIndex, i, s.n)
	}
	l := plainLen(s.size, i, s.n)
	if cap(buf) < l+Overhead {
		buf = make([]byte, 0, l+Overhead)
	}
	pt := buf[:l]
	off := int64(i) * ChunkSize
	want := min(int64(l), max(s.size-off, 0))
	clear(pt[want:]) // the padding
	if want > 0 {
		got, err := s.src.ReadAt(pt[:want], off)
		if int64(got) < want {
			clear(pt)
			if err == nil || errors.Is(err, io.EOF) {
				err = ErrChanged
			}
			return nil, Hash{}, fmt.Errorf("attach: reading chunk %d: %w", i, err)
		}
	}
	out := s.aead.Seal(pt[:0], nonce(i), pt, ad(i, s.n)) // in place: the plaintext is overwritten
	return out, HashOf(out), nil
}

// Opener opens the chunks of one attachment and checks each against the
// descriptor before anything of it is used.
type Opener struct {
	aead cipher.AEAD
	d    *Attachment
}

// NewOpener checks d and prepares to open its chunks.
func NewOpener(d *Attachment) (*Opener, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	return &Opener{aead: newAEAD(d.Key), d: d}, nil
}

// Count returns the number of chunks.
func (o *Opener) Count() int { return len(o.d.Chunks) }

// Span returns where chunk i's file bytes go: their offset in the file and
// how many there are (the padding is not part of the file).
func (o *Opener) Span(i int) (off int64, n int) {
	off = int64(i) * ChunkSize
	return off, int(min(int64(ChunkSize), max(o.d.Size-off, 0)))
}

// SealedLen returns the length of sealed chunk i.
func (o *Opener) SealedLen(i int) int {
	return plainLen(o.d.Size, i, len(o.d.Chunks)) + Overhead
}

// Open verifies sealed chunk i against its hash (constant time), its
// length and its tag, and returns its file bytes, without padding.
func (o *Opener) Open(i int, sealed []byte) ([]byte, error) { return o.open(i, nil, sealed) }

// OpenInPlace is Open decrypting into sealed's own storage (no allocation):
// sealed is overwritten, whether or not it opens.
func (o *Opener) OpenInPlace(i int, sealed []byte) ([]byte, error) {
	return o.open(i, sealed[:0], sealed)
}

func (o *Opener) open(i int, dst, sealed []byte) ([]byte, error) {
	n := len(o.d.Chunks)
	if i < 0 || i >= n {
		return nil, fmt.Errorf("%w: %d of %d", ErrIndex, i, n)
	}
	h := HashOf(sealed)
	if subtle.ConstantTimeCompare(h[:], o.d.Chunks[i][:]) != 1 {
		return nil, fmt.Errorf("chunk %d: %w", i, ErrHash)
	}
	if len(sealed) != plainLen(o.d.Size, i, n)+Overhead {
		return nil, fmt.Errorf("chunk %d: %w: %d bytes", i, ErrLength, len(sealed))
	}
	pt, err := o.aead.Open(dst, nonce(i), sealed, ad(i, n))
	if err != nil {
		return nil, fmt.Errorf("chunk %d: %w", i, ErrAuth)
	}
	_, keep := o.Span(i)
	for _, b := range pt[keep:] {
		if b != 0 {
			clear(pt)
			return nil, fmt.Errorf("chunk %d: %w", i, ErrPadding)
		}
	}
	return pt[:keep], nil
}

// Verify reports whether plain, the file bytes of chunk i (as Span says),
// seal to the chunk the descriptor names: a download resumed from a
// partial file checks what it already has this way.
func (o *Opener) Verify(i int, plain []byte) bool {
	n := len(o.d.Chunks)
	if i < 0 || i >= n {
		return false
	}
	if _, keep := o.Span(i); len(plain) != keep {
		return false
	}
	pt := make([]byte, plainLen(o.d.Size, i, n))
	copy(pt, plain)
	h := HashOf(o.aead.Seal(nil, nonce(i), pt, ad(i, n)))
	clear(pt)
	return subtle.ConstantTimeCompare(h[:], o.d.Chunks[i][:]) == 1
}
