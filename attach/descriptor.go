package attach

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// Descriptor limits (docs/spec/attachments.md §4).
const (
	descriptorVersion = 1
	MaxName           = 255      // bytes of the file name
	MaxMediaType      = 127      // bytes of the media type
	MaxThumbnail      = 16 << 10 // bytes of the thumbnail
)

// ErrDescriptor is wrapped by every error of Unmarshal and Marshal.
var ErrDescriptor = errors.New("attach: bad descriptor")

// Attachment describes one encrypted file. It is secret (it holds the
// key) and travels only inside end-to-end encrypted messages.
type Attachment struct {
	Key       Key
	Size      int64  // the file's true size in bytes
	Chunks    []Hash // ChunkCount(Size) hashes, in order
	MediaType string // e.g. "image/jpeg"; "application/octet-stream" if unknown
	Name      string // a base name: no path separators, no control characters
	// Width and Height are an image's or a video's dimensions (0 if none).
	Width, Height uint32
	// Thumbnail is a small preview (at most MaxThumbnail bytes, e.g. a
	// JPEG), encrypted by travelling inside the descriptor.
	Thumbnail []byte
}

// ValidName reports whether name may be an attachment's file name: a
// non-empty base name of UTF-8 without separators or control characters,
// so that writing it under a download directory stays in that directory.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxName || !utf8.ValidString(name) || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || (r >= 0x80 && r < 0xa0) || bidiOrLineControl(r) {
			return false
		}
	}
	return path.Base(name) == name
}

// bidiOrLineControl reports the characters that reorder or break what a
// terminal shows ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf").
func bidiOrLineControl(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// validMediaType: type "/" subtype in printable ASCII without spaces.
func validMediaType(s string) bool {
	t, sub, ok := strings.Cut(s, "/")
	if !ok || t == "" || sub == "" || len(s) > MaxMediaType {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == ';' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// check enforces what the codec cannot.
func (d *Attachment) check() error {
	switch {
	case d.Size < 0 || d.Size > MaxSize:
		return fmt.Errorf("%w: size %d out of range 0..%d", ErrDescriptor, d.Size, MaxSize)
	case len(d.Chunks) != ChunkCount(d.Size):
		return fmt.Errorf("%w: %d chunk hashes for %d bytes, need %d", ErrDescriptor, len(d.Chunks), d.Size, ChunkCount(d.Size))
	case !validMediaType(d.MediaType):
		return fmt.Errorf("%w: media type %q", ErrDescriptor, d.MediaType)
	case !ValidName(d.Name):
		return fmt.Errorf("%w: file name is not a plain base name", ErrDescriptor)
	case len(d.Thumbnail) > MaxThumbnail:
		return fmt.Errorf("%w: thumbnail of %d bytes > %d", ErrDescriptor, len(d.Thumbnail), MaxThumbnail)
	case (d.Width == 0) != (d.Height == 0):
		return fmt.Errorf("%w: dimensions %dx%d", ErrDescriptor, d.Width, d.Height)
	}
	return nil
}

// Marshal encodes d (docs/spec/attachments.md §4).
func (d *Attachment) Marshal() ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, 128+32*len(d.Chunks)+len(d.Thumbnail)))
	b.AddUint8(descriptorVersion)
	b.AddBytes(d.Key[:])
	b.AddUint64(uint64(d.Size))
	b.AddUint32(ChunkSize)
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, h := range d.Chunks {
			b.AddBytes(h[:])
		}
	})
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(d.MediaType)) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(d.Name)) })
	b.AddUint32(d.Width)
	b.AddUint32(d.Height)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(d.Thumbnail) })
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDescriptor, err)
	}
	return out, nil
}

// Unmarshal decodes a descriptor; it accepts exactly what Marshal produces.
func Unmarshal(b []byte) (*Attachment, error) {
	s := cryptobyte.String(b)
	var (
		d                Attachment
		version          uint8
		size             uint64
		chunkSize        uint32
		hashes, mt, name cryptobyte.String
		thumb            cryptobyte.String
	)
	if !s.ReadUint8(&version) || version != descriptorVersion {
		return nil, fmt.Errorf("%w: unknown version", ErrDescriptor)
	}
	if !s.CopyBytes(d.Key[:]) || !s.ReadUint64(&size) || !s.ReadUint32(&chunkSize) {
		return nil, fmt.Errorf("%w: truncated", ErrDescriptor)
	}
	if chunkSize != ChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d, this version uses %d", ErrDescriptor, chunkSize, ChunkSize)
	}
	if size > uint64(MaxSize) {
		return nil, fmt.Errorf("%w: size %d > %d", ErrDescriptor, size, MaxSize)
	}
	d.Size = int64(size)
	var hlen uint32
	if !s.ReadUint32(&hlen) || uint64(hlen) != 32*uint64(ChunkCount(d.Size)) || !s.ReadBytes((*[]byte)(&hashes), int(hlen)) {
		return nil, fmt.Errorf("%w: chunk hashes do not match the size", ErrDescriptor)
	}
	d.Chunks = make([]Hash, len(hashes)/32)
	for i := range d.Chunks {
		hashes.CopyBytes(d.Chunks[i][:])
	}
	if !s.ReadUint8LengthPrefixed(&mt) || !s.ReadUint16LengthPrefixed(&name) ||
		!s.ReadUint32(&d.Width) || !s.ReadUint32(&d.Height) || !s.ReadUint16LengthPrefixed(&thumb) {
		return nil, fmt.Errorf("%w: truncated", ErrDescriptor)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrDescriptor, len(s))
	}
	d.MediaType, d.Name = string(mt), string(name)
	if len(thumb) > 0 {
		d.Thumbnail = append([]byte(nil), thumb...)
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return &d, nil
}
