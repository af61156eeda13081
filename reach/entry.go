package reach

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/transport"
)

// Kind says what an endpoint is.
type Kind uint8

const (
	// KindDirect is the server's own address (usually a "direct" spec).
	KindDirect Kind = 1
	// KindRelay is a volunteer relay, with its transport and parameters.
	KindRelay Kind = 2
	// KindFront is a CDN front: a "tlsws" spec whose address and SNI are
	// the CDN's front domain and whose Host is ours.
	KindFront Kind = 3
)

// String names the kind for people ("relay").
func (k Kind) String() string {
	switch k {
	case KindDirect:
		return "direct"
	case KindRelay:
		return "relay"
	case KindFront:
		return "front"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// known reports whether this version of reach knows how to use the kind.
// Unknown kinds still parse (a newer server may send them) but are never
// dialed.
func (k Kind) known() bool { return k >= KindDirect && k <= KindFront }

// Entry is one endpoint of the book: how to reach the server (directly, via a
// relay, or via a CDN front) and until when that holds.
type Entry struct {
	ID       string         // stable name, 1-64 of [a-z0-9._-]; the merge and slice key
	Kind     Kind           // what it is; never 0
	Serial   uint64         // the higher serial of one ID wins a merge
	NotAfter time.Time      // expiry, second precision; zero only for unsigned entries
	Label    string         // for people ("relay in Riga"); at most 64 bytes, printable
	Spec     transport.Spec // the transport endpoint; a capability, never logged
}

// SignedEntry is an Entry with the server's Ed25519 signature over its
// encoding (see entrySignedMessage). It is trusted wherever it came from.
type SignedEntry struct {
	Entry Entry
	Sig   [ed25519.SignatureSize]byte
}

// Errors wrapped by validation failures, so callers can tell them apart.
var (
	ErrMalformed  = errors.New("reach: malformed data")
	ErrBadSig     = errors.New("reach: signature does not verify")
	ErrExpired    = errors.New("reach: entry expired")
	ErrRevoked    = errors.New("reach: entry revoked")
	ErrWrongBook  = errors.New("reach: signed for another server")
	ErrNotAllowed = errors.New("reach: not allowed")
)

// Limits that keep encodings small enough for QR codes and cheap to parse.
const (
	maxIDLen    = 64
	maxLabelLen = 64
	maxValueLen = 2048
	maxUnix     = 1 << 40 // Unix seconds; far beyond any real expiry
)

// BookKey is the server's Ed25519 public key that signs endpoint books.
type BookKey [ed25519.PublicKeySize]byte

const bookKeyPrefix = "sb1"

// String returns "sb1" and the key in unpadded base64url, like
// securechan.ServerPublic's "sc1" form.
func (k BookKey) String() string { return bookKeyPrefix + base64.RawURLEncoding.EncodeToString(k[:]) }

// IsZero reports whether k is unset.
func (k BookKey) IsZero() bool { return k == BookKey{} }

// ParseBookKey reads the text form of a BookKey.
func ParseBookKey(s string) (BookKey, error) {
	var k BookKey
	rest, ok := strings.CutPrefix(s, bookKeyPrefix)
	if !ok {
		return k, fmt.Errorf("%w: book key must start with %q; copy the whole link", ErrMalformed, bookKeyPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("%w: book key is not 32 bytes of base64url", ErrMalformed)
	}
	copy(k[:], b)
	if k.IsZero() {
		return k, fmt.Errorf("%w: the all-zero book key", ErrMalformed)
	}
	return k, nil
}

// ServerID is the server's identity as reach sees it: the securechan key that
// clients pin for the channel and the Ed25519 key that signs the endpoint
// book. A server link carries both, so both are pinned from the same source.
// Every signature covers Chan too, so an entry says "this path reaches the
// server whose channel key is Chan", and a book key cannot vouch for paths to
// another server.
type ServerID struct {
	Chan securechan.ServerPublic
	Book BookKey
}

// Signer signs entries and books on the server. It holds the private key.
type Signer struct {
	key ed25519.PrivateKey // secret
	id  ServerID
}

// NewSigner returns a Signer for the server whose channel key is chanKey.
func NewSigner(key ed25519.PrivateKey, chanKey securechan.ServerPublic) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("reach: making signer: need a %d-byte Ed25519 private key, got %d", ed25519.PrivateKeySize, len(key))
	}
	s := &Signer{key: slices.Clone(key)}
	copy(s.id.Book[:], key.Public().(ed25519.PublicKey))
	s.id.Chan = chanKey
	return s, nil
}

// ServerID returns the identity clients pin (put it in the server link).
func (s *Signer) ServerID() ServerID { return s.id }

// SignEntry validates e and signs it. Signed entries must expire.
func (s *Signer) SignEntry(e Entry) (SignedEntry, error) {
	if e.NotAfter.IsZero() {
		return SignedEntry{}, fmt.Errorf("reach: signing entry %q: %w: a signed entry needs an expiry", e.ID, ErrNotAllowed)
	}
	enc, err := e.marshal()
	if err != nil {
		return SignedEntry{}, fmt.Errorf("reach: signing entry %q: %w", e.ID, err)
	}
	se := SignedEntry{Entry: e}
	se.Entry.NotAfter = e.NotAfter.Truncate(time.Second).UTC()
	copy(se.Sig[:], ed25519.Sign(s.key, entrySignedMessage(s.id, enc)))
	return se, nil
}

const (
	entryContext = "samizdat/reach entry v1\x00"
	bookContext  = "samizdat/reach book v1\x00"
)

// entrySignedMessage is what an entry's signature covers: a context string,
// the channel key of the server, and the entry's canonical encoding.
func entrySignedMessage(id ServerID, enc []byte) []byte {
	m := make([]byte, 0, len(entryContext)+32+len(enc))
	m = append(m, entryContext...)
	m = append(m, id.Chan[:]...)
	return append(m, enc...)
}

// Verify checks the signature against id and that the entry has not expired
// at now.
func (se SignedEntry) Verify(id ServerID, now time.Time) error {
	enc, err := se.Entry.marshal()
	if err != nil {
		return fmt.Errorf("reach: verifying entry: %w", err)
	}
	if !ed25519.Verify(ed25519.PublicKey(id.Book[:]), entrySignedMessage(id, enc), se.Sig[:]) {
		return fmt.Errorf("reach: verifying entry %q: %w", se.Entry.ID, ErrBadSig)
	}
	if se.Entry.NotAfter.IsZero() {
		return fmt.Errorf("reach: verifying entry %q: %w: signed entry without expiry", se.Entry.ID, ErrMalformed)
	}
	if !now.Before(se.Entry.NotAfter) {
		return fmt.Errorf("reach: verifying entry %q: %w at %s", se.Entry.ID, ErrExpired, se.Entry.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// Validate checks every field without looking at signatures.
func (e Entry) Validate() error {
	if !validID(e.ID) {
		return fmt.Errorf("%w: entry ID must be 1-%d of [a-z0-9._-]", ErrMalformed, maxIDLen)
	}
	if e.Kind == 0 {
		return fmt.Errorf("%w: entry %q has kind 0", ErrMalformed, e.ID)
	}
	if len(e.Label) > maxLabelLen || !utf8.ValidString(e.Label) || strings.ContainsFunc(e.Label, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return fmt.Errorf("%w: entry %q label must be at most %d printable bytes", ErrMalformed, e.ID, maxLabelLen)
	}
	if !e.NotAfter.IsZero() && (e.NotAfter.Unix() <= 0 || e.NotAfter.Unix() > maxUnix) {
		return fmt.Errorf("%w: entry %q expiry out of range", ErrMalformed, e.ID)
	}
	if err := e.Spec.Validate(); err != nil {
		return fmt.Errorf("%w: entry %q: %w", ErrMalformed, e.ID, err)
	}
	for _, v := range e.Spec.Params {
		if len(v) > maxValueLen {
			return fmt.Errorf("%w: entry %q has a parameter longer than %d bytes", ErrMalformed, e.ID, maxValueLen)
		}
	}
	return nil
}

// Expired reports whether e has an expiry at or before now.
func (e Entry) Expired(now time.Time) bool { return !e.NotAfter.IsZero() && !now.Before(e.NotAfter) }

// Describe returns the entry for people: `relay "relay in Riga" (tlsws)`.
// It never shows parameters, which may be secrets.
func (e Entry) Describe() string {
	name := e.Label
	if name == "" {
		name = e.ID
	}
	return fmt.Sprintf("%s %q (%s)", e.Kind, name, e.Spec.Name)
}

func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// UnsignedID is the ID given to a user-added entry: "u-" and 12 hex digits of
// SHA-256 over the spec's text form, so adding the same relay twice is one
// entry.
func UnsignedID(s transport.Spec) string {
	h := sha256.Sum256([]byte(s.String()))
	return "u-" + hex.EncodeToString(h[:6])
}

// Entry encoding (all integers big-endian, lengths as prefixes):
//
//	u8 kind | u8-len id | u64 serial | u64 not_after (Unix seconds, 0 = none)
//	u8-len label | u8-len spec name | u8-len spec addr
//	u8 param count | param count × (u8-len key | u16-len value), keys strictly ascending
//
// There is exactly one encoding of an Entry; the decoder rejects any other.

func (e Entry) marshal() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	e.build(&b)
	return b.Bytes()
}

func (e Entry) build(b *cryptobyte.Builder) {
	b.AddUint8(uint8(e.Kind))
	addString8(b, e.ID)
	b.AddUint64(e.Serial)
	var na uint64
	if !e.NotAfter.IsZero() && e.NotAfter.Unix() > 0 {
		na = uint64(e.NotAfter.Unix())
	}
	b.AddUint64(na)
	addString8(b, e.Label)
	addString8(b, e.Spec.Name)
	addString8(b, e.Spec.Addr)
	keys := make([]string, 0, len(e.Spec.Params))
	for k := range e.Spec.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.AddUint8(uint8(len(keys)))
	for _, k := range keys {
		addString8(b, k)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(e.Spec.Params[k])) })
	}
}

func addString8(b *cryptobyte.Builder, s string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// readEntry decodes one entry from s and validates it.
func readEntry(s *cryptobyte.String) (Entry, error) {
	var (
		e                     Entry
		kind, nparams         uint8
		na                    uint64
		id, label, name, addr cryptobyte.String
	)
	if !s.ReadUint8(&kind) || !s.ReadUint8LengthPrefixed(&id) || !s.ReadUint64(&e.Serial) ||
		!s.ReadUint64(&na) || !s.ReadUint8LengthPrefixed(&label) || !s.ReadUint8LengthPrefixed(&name) ||
		!s.ReadUint8LengthPrefixed(&addr) || !s.ReadUint8(&nparams) {
		return Entry{}, fmt.Errorf("%w: truncated entry", ErrMalformed)
	}
	e.Kind, e.ID, e.Label = Kind(kind), string(id), string(label)
	if na != 0 {
		if na > maxUnix {
			return Entry{}, fmt.Errorf("%w: expiry out of range", ErrMalformed)
		}
		e.NotAfter = time.Unix(int64(na), 0).UTC()
	}
	e.Spec = transport.Spec{Name: string(name), Addr: string(addr)}
	if nparams > 0 {
		e.Spec.Params = make(map[string]string, nparams)
	}
	prev := ""
	for i := 0; i < int(nparams); i++ {
		var k, v cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&k) || !s.ReadUint16LengthPrefixed(&v) {
			return Entry{}, fmt.Errorf("%w: truncated parameters", ErrMalformed)
		}
		if i > 0 && string(k) <= prev {
			return Entry{}, fmt.Errorf("%w: parameter keys not strictly ascending", ErrMalformed)
		}
		prev = string(k)
		e.Spec.Params[prev] = string(v)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// MarshalBinary returns the canonical encoding of the entry.
func (e Entry) MarshalBinary() ([]byte, error) { return e.marshal() }

// UnmarshalEntry decodes exactly one entry, rejecting trailing bytes.
func UnmarshalEntry(data []byte) (Entry, error) {
	s := cryptobyte.String(data)
	e, err := readEntry(&s)
	if err != nil {
		return Entry{}, fmt.Errorf("reach: decoding entry: %w", err)
	}
	if !s.Empty() {
		return Entry{}, fmt.Errorf("reach: decoding entry: %w: trailing bytes", ErrMalformed)
	}
	return e, nil
}

// addSigned appends a signed entry: u16-len entry | 64-byte signature.
func addSigned(b *cryptobyte.Builder, se SignedEntry) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { se.Entry.build(b) })
	b.AddBytes(se.Sig[:])
}

func readSigned(s *cryptobyte.String) (SignedEntry, error) {
	var body cryptobyte.String
	var se SignedEntry
	if !s.ReadUint16LengthPrefixed(&body) || !s.CopyBytes(se.Sig[:]) {
		return se, fmt.Errorf("%w: truncated signed entry", ErrMalformed)
	}
	e, err := readEntry(&body)
	if err != nil {
		return se, err
	}
	if !body.Empty() {
		return se, fmt.Errorf("%w: trailing bytes in entry", ErrMalformed)
	}
	se.Entry = e
	return se, nil
}

func addUnsigned(b *cryptobyte.Builder, e Entry) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { e.build(b) })
}

func readUnsigned(s *cryptobyte.String) (Entry, error) {
	var body cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&body) {
		return Entry{}, fmt.Errorf("%w: truncated entry", ErrMalformed)
	}
	e, err := readEntry(&body)
	if err != nil {
		return Entry{}, err
	}
	if !body.Empty() {
		return Entry{}, fmt.Errorf("%w: trailing bytes in entry", ErrMalformed)
	}
	return e, nil
}
