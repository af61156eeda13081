package reach

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Book is one signed edition of the endpoint book as the server sends it to
// one client: the client's slice of relays plus the direct addresses and
// fronts, each entry signed on its own (so it can travel alone in links and
// between contacts), and revocations, all under one book signature.
//
// Absence from a book never withdraws an entry: each client sees only its
// slice. Entries end by expiring (the server re-signs live ones, the client
// refreshes while connected) or by an explicit Revocation.
type Book struct {
	ID       ServerID
	Version  uint64    // strictly increasing per server
	IssuedAt time.Time // second precision
	Entries  []SignedEntry
	Revoked  []Revocation
}

// Revocation withdraws every entry with this ID whose Serial is at most
// Serial.
type Revocation struct {
	ID     string
	Serial uint64
}

// Book encoding:
//
//	"SZB" | u8 format (1) | 32 chan key | 32 book key | u64 version | u64 issued_at
//	u24-len [ signed entry ... ] | u16-len [ u8-len id | u64 serial ... ]
//	64-byte Ed25519 signature over bookContext || everything before it
const (
	bookMagic    = "SZB"
	bookFormat   = 1
	maxBookBytes = 1 << 20
)

// SignBook encodes and signs a book. The entries must already be signed by
// s (SignEntry); Slice picks which relays go in.
func (s *Signer) SignBook(version uint64, issued time.Time, entries []SignedEntry, revoked []Revocation) ([]byte, error) {
	b := Book{ID: s.id, Version: version, IssuedAt: issued.Truncate(time.Second).UTC(), Entries: entries, Revoked: revoked}
	body, err := b.marshalBody()
	if err != nil {
		return nil, fmt.Errorf("reach: signing book: %w", err)
	}
	sig := ed25519.Sign(s.key, append([]byte(bookContext), body...))
	return append(body, sig...), nil
}

func (b Book) marshalBody() ([]byte, error) {
	for _, se := range b.Entries {
		if err := se.Entry.Validate(); err != nil {
			return nil, err
		}
	}
	for _, r := range b.Revoked {
		if !validID(r.ID) {
			return nil, fmt.Errorf("%w: revocation ID", ErrMalformed)
		}
	}
	var cb cryptobyte.Builder
	cb.AddBytes([]byte(bookMagic))
	cb.AddUint8(bookFormat)
	cb.AddBytes(b.ID.Chan[:])
	cb.AddBytes(b.ID.Book[:])
	cb.AddUint64(b.Version)
	cb.AddUint64(unixOrZero(b.IssuedAt))
	cb.AddUint24LengthPrefixed(func(cb *cryptobyte.Builder) {
		for _, se := range b.Entries {
			addSigned(cb, se)
		}
	})
	cb.AddUint16LengthPrefixed(func(cb *cryptobyte.Builder) {
		for _, r := range b.Revoked {
			addString8(cb, r.ID)
			cb.AddUint64(r.Serial)
		}
	})
	return cb.Bytes()
}

func unixOrZero(t time.Time) uint64 {
	if t.IsZero() || t.Unix() <= 0 {
		return 0
	}
	return uint64(t.Unix())
}

// ParseBook decodes a book without checking any signature. Use VerifyBook
// for anything that came over the network.
func ParseBook(data []byte) (Book, error) {
	b, _, err := parseBook(data)
	return b, err
}

func parseBook(data []byte) (Book, []byte, error) {
	var b Book
	if len(data) > maxBookBytes {
		return b, nil, fmt.Errorf("reach: decoding book: %w: %d bytes, at most %d", ErrMalformed, len(data), maxBookBytes)
	}
	if len(data) < ed25519.SignatureSize {
		return b, nil, fmt.Errorf("reach: decoding book: %w: too short", ErrMalformed)
	}
	body, sig := data[:len(data)-ed25519.SignatureSize], data[len(data)-ed25519.SignatureSize:]
	s := cryptobyte.String(body)
	var (
		magic            []byte
		format           uint8
		issued           uint64
		entries, revoked cryptobyte.String
	)
	if !s.ReadBytes(&magic, len(bookMagic)) || string(magic) != bookMagic || !s.ReadUint8(&format) {
		return Book{}, nil, fmt.Errorf("reach: decoding book: %w: not an endpoint book", ErrMalformed)
	}
	if format != bookFormat {
		return Book{}, nil, fmt.Errorf("reach: decoding book: %w: format %d, this client reads %d; update samizdat", ErrMalformed, format, bookFormat)
	}
	if !s.CopyBytes(b.ID.Chan[:]) || !s.CopyBytes(b.ID.Book[:]) || !s.ReadUint64(&b.Version) || !s.ReadUint64(&issued) ||
		!s.ReadUint24LengthPrefixed(&entries) || !s.ReadUint16LengthPrefixed(&revoked) || !s.Empty() {
		return Book{}, nil, fmt.Errorf("reach: decoding book: %w: truncated or trailing bytes", ErrMalformed)
	}
	if issued > maxUnix {
		return Book{}, nil, fmt.Errorf("reach: decoding book: %w: issue time out of range", ErrMalformed)
	}
	if issued != 0 {
		b.IssuedAt = time.Unix(int64(issued), 0).UTC()
	}
	for !entries.Empty() {
		se, err := readSigned(&entries)
		if err != nil {
			return Book{}, nil, fmt.Errorf("reach: decoding book: %w", err)
		}
		b.Entries = append(b.Entries, se)
	}
	for !revoked.Empty() {
		var id cryptobyte.String
		var r Revocation
		if !revoked.ReadUint8LengthPrefixed(&id) || !revoked.ReadUint64(&r.Serial) || !validID(string(id)) {
			return Book{}, nil, fmt.Errorf("reach: decoding book: %w: bad revocation", ErrMalformed)
		}
		r.ID = string(id)
		b.Revoked = append(b.Revoked, r)
	}
	return b, sig, nil
}

// VerifyBook decodes a book, checks that it is signed for id, and checks the
// book signature and every entry's signature. Entries that expired by now
// are dropped from the result (an old cached book is still useful for its
// live entries); any forged entry fails the whole book.
func VerifyBook(data []byte, id ServerID, now time.Time) (Book, error) {
	b, sig, err := parseBook(data)
	if err != nil {
		return Book{}, err
	}
	if b.ID != id {
		return Book{}, fmt.Errorf("reach: verifying book: %w", ErrWrongBook)
	}
	body := data[:len(data)-ed25519.SignatureSize]
	if !ed25519.Verify(ed25519.PublicKey(id.Book[:]), append([]byte(bookContext), body...), sig) {
		return Book{}, fmt.Errorf("reach: verifying book: %w", ErrBadSig)
	}
	live := b.Entries[:0]
	for _, se := range b.Entries {
		err := se.Verify(id, now)
		switch {
		case err == nil:
			live = append(live, se)
		case isExpired(err):
		default:
			return Book{}, fmt.Errorf("reach: verifying book: %w", err)
		}
	}
	b.Entries = slices.Clip(live)
	return b, nil
}
