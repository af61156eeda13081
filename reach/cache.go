package reach

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/samizdat-project/samizdat/transport"
)

// Source says where an entry came from. It is shown to the user and never
// changes trust: a server signature is trusted from anywhere, an unsigned
// entry from nowhere.
type Source uint8

const (
	SourceBook    Source = 1 // a book fetched from the server
	SourceLink    Source = 2 // an invite link or QR code
	SourceContact Source = 3 // handed over by a contact
	SourceUser    Source = 4 // typed in by the user (a relay they run or know)
)

func (s Source) String() string {
	switch s {
	case SourceBook:
		return "book"
	case SourceLink:
		return "link"
	case SourceContact:
		return "contact"
	case SourceUser:
		return "user"
	}
	return fmt.Sprintf("source-%d", uint8(s))
}

// Record is one entry the client knows.
type Record struct {
	Entry  Entry
	Signed bool      // verified server signature; false = user-added, marked as such
	Sig    [64]byte  // valid when Signed
	Source Source    // where it came from first (for signed: where this serial came from)
	Added  time.Time // when it was added, second precision
}

// Cache is the client's endpoint book: every verified entry it knows for one
// server, from books, links, QR codes and contacts, plus unsigned entries the
// user added. It is safe for concurrent use and serializes to bytes
// (MarshalBinary / UnmarshalCache) for the client's store.
//
// Merge rules:
//   - A signed entry must verify against the pinned ServerID and not be
//     expired; otherwise it is rejected (ErrBadSig, ErrWrongBook, ErrExpired).
//   - For one ID the higher Serial wins; an equal or lower serial is ignored.
//     A signed entry replaces an unsigned one with the same ID.
//   - A revocation (ID, serial) from any verified book removes that ID's
//     entries with Serial <= serial and rejects them later.
//   - An unsigned entry never replaces a signed one.
//   - The book version kept is the highest seen; an older book is still merged
//     entry by entry (serials protect each entry against rollback).
type Cache struct {
	id ServerID

	mu      sync.Mutex         // guards the fields below
	version uint64             // highest verified book version
	records map[string]*Record // by entry ID
	revoked map[string]uint64  // ID -> highest revoked serial
}

// NewCache returns an empty cache for the server id.
func NewCache(id ServerID) *Cache {
	return &Cache{id: id, records: make(map[string]*Record), revoked: make(map[string]uint64)}
}

// ServerID returns the identity the cache verifies against.
func (c *Cache) ServerID() ServerID { return c.id }

// Version returns the highest book version merged so far (0 = none), which
// the client sends when it asks the server for a fresher book.
func (c *Cache) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// MergeBook verifies a book from the server and merges it. It returns how
// many entries were added or updated.
func (c *Cache) MergeBook(data []byte, now time.Time) (int, error) {
	b, err := VerifyBook(data, c.id, now)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range b.Revoked {
		c.revokeLocked(r)
	}
	n := 0
	for _, se := range b.Entries {
		if c.addSignedLocked(se, SourceBook, now) == nil {
			n++
		}
	}
	c.version = max(c.version, b.Version)
	return n, nil
}

// AddSigned verifies and merges one signed entry from anywhere (a link, a
// contact). It returns nil if the entry was added or is already known.
func (c *Cache) AddSigned(se SignedEntry, src Source, now time.Time) error {
	if err := se.Verify(c.id, now); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.addSignedLocked(se, src, now)
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}

var errStale = errors.New("reach: stale entry")

func (c *Cache) addSignedLocked(se SignedEntry, src Source, now time.Time) error {
	e := se.Entry
	if rs, ok := c.revoked[e.ID]; ok && e.Serial <= rs {
		return fmt.Errorf("reach: adding entry %q: %w", e.ID, ErrRevoked)
	}
	if old, ok := c.records[e.ID]; ok && old.Signed && old.Entry.Serial >= e.Serial {
		return errStale
	}
	c.records[e.ID] = &Record{Entry: e, Signed: true, Sig: se.Sig, Source: src, Added: now.Truncate(time.Second).UTC()}
	return nil
}

func (c *Cache) revokeLocked(r Revocation) {
	c.revoked[r.ID] = max(c.revoked[r.ID], r.Serial)
	if old, ok := c.records[r.ID]; ok && old.Signed && old.Entry.Serial <= r.Serial {
		delete(c.records, r.ID)
	}
}

// AddUnsigned adds an entry nobody signed (a relay the user typed in or a
// contact passed on). It is marked unsigned; its ID is UnsignedID(spec), so
// it cannot shadow a signed entry. The secure channel still pins the server
// key, so a bad unsigned relay can fail or stall but not read or forge.
func (c *Cache) AddUnsigned(kind Kind, label string, spec transport.Spec, src Source, now time.Time) (Entry, error) {
	e := Entry{ID: UnsignedID(spec), Kind: kind, Label: label, Spec: spec}
	if err := e.Validate(); err != nil {
		return Entry{}, fmt.Errorf("reach: adding unsigned entry: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.records[e.ID]; ok {
		if old.Signed {
			return Entry{}, fmt.Errorf("reach: adding unsigned entry: %w: a signed entry has ID %q", ErrNotAllowed, e.ID)
		}
		return old.Entry, nil
	}
	c.records[e.ID] = &Record{Entry: e, Source: src, Added: now.Truncate(time.Second).UTC()}
	return e, nil
}

// AddLink merges what a link carries: its direct addresses and unsigned
// entries as unsigned, its signed entries after verification. A link for
// another server is rejected whole. It returns the first error met but adds
// everything that is valid.
func (c *Cache) AddLink(l Link, src Source, now time.Time) error {
	if (l.Chan != c.id.Chan && !chanZero(l.Chan)) || (!l.Book.IsZero() && l.Book != c.id.Book) {
		return fmt.Errorf("reach: adding link: %w", ErrWrongBook)
	}
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	for _, a := range l.Addrs {
		_, err := c.AddUnsigned(KindDirect, "", transport.Spec{Name: "direct", Addr: a}, src, now)
		keep(err)
	}
	for _, se := range l.Entries {
		keep(c.AddSigned(se, src, now))
	}
	for _, e := range l.Unsigned {
		_, err := c.AddUnsigned(e.Kind, e.Label, e.Spec, src, now)
		keep(err)
	}
	return first
}

// Remove forgets an entry (the user deletes a relay).
func (c *Cache) Remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.records, id)
}

// Prune drops expired entries and returns how many.
func (c *Cache) Prune(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for id, r := range c.records {
		if r.Entry.Expired(now) {
			delete(c.records, id)
			n++
		}
	}
	return n
}

// Records returns the live entries, signed first, then by kind and ID.
func (c *Cache) Records(now time.Time) []Record {
	c.mu.Lock()
	out := make([]Record, 0, len(c.records))
	for _, r := range c.records {
		if !r.Entry.Expired(now) {
			out = append(out, *r)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Record) int {
		if a.Signed != b.Signed {
			if a.Signed {
				return -1
			}
			return 1
		}
		if a.Entry.Kind != b.Entry.Kind {
			return int(a.Entry.Kind) - int(b.Entry.Kind)
		}
		return strings.Compare(a.Entry.ID, b.Entry.ID)
	})
	return out
}

// Candidates returns the live, usable entries as dial candidates in the
// order of Records. Entries of kinds this version does not know are left out.
func (c *Cache) Candidates(now time.Time) []Candidate {
	var out []Candidate
	for _, r := range c.Records(now) {
		if r.Entry.Kind.known() {
			out = append(out, CandidateFor(r.Entry, r.Signed))
		}
	}
	return out
}

// Cache encoding:
//
//	"SZC" | u8 format (1) | 32 chan key | 32 book key | u64 version
//	u24-len [ u8 source | u64 added | u8 signed | signed ? signed entry : u16-len entry ... ]
//	u16-len [ u8-len id | u64 serial ... ]
const cacheMagic = "SZC"

// MarshalBinary serializes the cache for the client's store.
func (c *Cache) MarshalBinary() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.records))
	for id := range c.records {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	revIDs := make([]string, 0, len(c.revoked))
	for id := range c.revoked {
		revIDs = append(revIDs, id)
	}
	slices.Sort(revIDs)
	var b cryptobyte.Builder
	b.AddBytes([]byte(cacheMagic))
	b.AddUint8(1)
	b.AddBytes(c.id.Chan[:])
	b.AddBytes(c.id.Book[:])
	b.AddUint64(c.version)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, id := range ids {
			r := c.records[id]
			b.AddUint8(uint8(r.Source))
			b.AddUint64(unixOrZero(r.Added))
			if r.Signed {
				b.AddUint8(1)
				addSigned(b, SignedEntry{Entry: r.Entry, Sig: r.Sig})
			} else {
				b.AddUint8(0)
				addUnsigned(b, r.Entry)
			}
		}
	})
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, id := range revIDs {
			addString8(b, id)
			b.AddUint64(c.revoked[id])
		}
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("reach: encoding cache: %w", err)
	}
	return out, nil
}

// UnmarshalCache reads a cache written by MarshalBinary for the server id.
// It verifies every signed entry again (the store is not trusted more than
// the network) and drops the ones that expired by now.
func UnmarshalCache(data []byte, id ServerID, now time.Time) (*Cache, error) {
	s := cryptobyte.String(data)
	var (
		magic            []byte
		format           uint8
		got              ServerID
		version          uint64
		records, revoked cryptobyte.String
	)
	if !s.ReadBytes(&magic, len(cacheMagic)) || string(magic) != cacheMagic || !s.ReadUint8(&format) || format != 1 ||
		!s.CopyBytes(got.Chan[:]) || !s.CopyBytes(got.Book[:]) || !s.ReadUint64(&version) ||
		!s.ReadUint24LengthPrefixed(&records) || !s.ReadUint16LengthPrefixed(&revoked) || !s.Empty() {
		return nil, fmt.Errorf("reach: decoding cache: %w", ErrMalformed)
	}
	if got != id {
		return nil, fmt.Errorf("reach: decoding cache: %w", ErrWrongBook)
	}
	c := NewCache(id)
	c.version = version
	for !revoked.Empty() {
		var rid cryptobyte.String
		var serial uint64
		if !revoked.ReadUint8LengthPrefixed(&rid) || !revoked.ReadUint64(&serial) || !validID(string(rid)) {
			return nil, fmt.Errorf("reach: decoding cache: %w: bad revocation", ErrMalformed)
		}
		c.revoked[string(rid)] = serial
	}
	for !records.Empty() {
		var src, signed uint8
		var added uint64
		if !records.ReadUint8(&src) || !records.ReadUint64(&added) || !records.ReadUint8(&signed) || added > maxUnix {
			return nil, fmt.Errorf("reach: decoding cache: %w: truncated record", ErrMalformed)
		}
		r := &Record{Source: Source(src), Signed: signed == 1}
		if added != 0 {
			r.Added = time.Unix(int64(added), 0).UTC()
		}
		switch signed {
		case 1:
			se, err := readSigned(&records)
			if err != nil {
				return nil, fmt.Errorf("reach: decoding cache: %w", err)
			}
			if err := se.Verify(id, now); err != nil {
				if isExpired(err) {
					continue
				}
				return nil, fmt.Errorf("reach: decoding cache: %w", err)
			}
			r.Entry, r.Sig = se.Entry, se.Sig
		case 0:
			e, err := readUnsigned(&records)
			if err != nil {
				return nil, fmt.Errorf("reach: decoding cache: %w", err)
			}
			if e.Expired(now) {
				continue
			}
			r.Entry = e
		default:
			return nil, fmt.Errorf("reach: decoding cache: %w: bad signed flag", ErrMalformed)
		}
		if _, dup := c.records[r.Entry.ID]; dup {
			return nil, fmt.Errorf("reach: decoding cache: %w: entry %q twice", ErrMalformed, r.Entry.ID)
		}
		c.records[r.Entry.ID] = r
	}
	return c, nil
}

func isExpired(err error) bool { return errors.Is(err, ErrExpired) }
