package reach

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

func ids(rs []Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Entry.ID)
	}
	return out
}

func TestCacheMergeRules(t *testing.T) {
	s := testSigner(t, "a")
	c := NewCache(s.ServerID())

	r1 := relayEntry(1)
	v1 := mustSign(t, s, r1)
	r1.Serial, r1.Label = 2, "relay 1 moved"
	r1.Spec.Addr = "203.0.113.1:443"
	v2 := mustSign(t, s, r1)

	data, _ := s.SignBook(5, t0, []SignedEntry{v1, mustSign(t, s, relayEntry(2))}, nil)
	if n, err := c.MergeBook(data, t0); err != nil || n != 2 {
		t.Fatalf("MergeBook = %d, %v", n, err)
	}
	if c.Version() != 5 {
		t.Fatalf("version %d", c.Version())
	}

	// A higher serial from a link replaces; the lower one does not come back.
	if err := c.AddSigned(v2, SourceLink, t0); err != nil {
		t.Fatal(err)
	}
	if err := c.AddSigned(v1, SourceContact, t0); err != nil {
		t.Fatalf("re-adding an older serial is not an error: %v", err)
	}
	if got := c.Records(t0)[0]; got.Entry.Serial != 2 || got.Source != SourceLink || got.Entry.Spec.Addr != "203.0.113.1:443" {
		t.Fatalf("after merge r1 = %+v", got)
	}

	// An older book version still merges entry by entry, but cannot roll
	// r1 back and does not lower the version.
	old, _ := s.SignBook(4, t0, []SignedEntry{v1, mustSign(t, s, relayEntry(3))}, nil)
	if n, err := c.MergeBook(old, t0); err != nil || n != 1 {
		t.Fatalf("old book: %d, %v", n, err)
	}
	if c.Version() != 5 || c.Records(t0)[0].Entry.Serial != 2 {
		t.Fatal("old book rolled something back")
	}

	// Forged, foreign and expired entries are rejected wherever they come from.
	forged := v2
	forged.Sig[1] ^= 1
	if err := c.AddSigned(forged, SourceLink, t0); !errors.Is(err, ErrBadSig) {
		t.Errorf("forged: %v", err)
	}
	if err := c.AddSigned(mustSign(t, testSigner(t, "b"), relayEntry(8)), SourceContact, t0); !errors.Is(err, ErrBadSig) {
		t.Errorf("foreign: %v", err)
	}
	if err := c.AddSigned(mustSign(t, s, relayEntry(9)), SourceLink, t0.Add(8*24*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := c.MergeBook(old, t0); err != nil {
		t.Fatal(err)
	}
	if got := ids(c.Records(t0)); !reflect.DeepEqual(got, []string{"r1", "r2", "r3"}) {
		t.Fatalf("records %v", got)
	}

	// Revocation removes serials up to the revoked one and blocks them later;
	// a newer serial is accepted again.
	rev, _ := s.SignBook(6, t0, nil, []Revocation{{ID: "r2", Serial: 1}})
	if _, err := c.MergeBook(rev, t0); err != nil {
		t.Fatal(err)
	}
	if got := ids(c.Records(t0)); !reflect.DeepEqual(got, []string{"r1", "r3"}) {
		t.Fatalf("after revocation %v", got)
	}
	if err := c.AddSigned(mustSign(t, s, relayEntry(2)), SourceContact, t0); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked entry re-added: %v", err)
	}
	r2 := relayEntry(2)
	r2.Serial = 2
	if err := c.AddSigned(mustSign(t, s, r2), SourceBook, t0); err != nil {
		t.Errorf("newer serial after revocation: %v", err)
	}

	// Unsigned entries are allowed, marked, come last, and never replace a
	// signed one; a signed entry with the same ID replaces an unsigned one.
	spec := transport.Spec{Name: "obfs4", Addr: "192.0.2.7:9000", Params: map[string]string{"cert": "abc"}}
	ue, err := c.AddUnsigned(KindRelay, "Olga's relay", spec, SourceContact, t0)
	if err != nil {
		t.Fatal(err)
	}
	recs := c.Records(t0)
	last := recs[len(recs)-1]
	if last.Entry.ID != ue.ID || last.Signed || last.Source != SourceContact {
		t.Fatalf("unsigned record %+v", last)
	}
	cands := c.Candidates(t0)
	if cands[len(cands)-1].Signed || !cands[0].Signed {
		t.Fatal("candidates do not mark unsigned entries")
	}
	shadow := relayEntry(10)
	shadow.ID = ue.ID
	if err := c.AddSigned(mustSign(t, s, shadow), SourceBook, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddUnsigned(KindRelay, "", spec, SourceUser, t0); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("unsigned over signed: %v", err)
	}

	// Expired entries leave Records, then Prune drops them.
	if n := len(c.Records(t0.Add(8 * 24 * time.Hour))); n != 0 {
		t.Errorf("%d records after every expiry", n)
	}
}

func TestCacheAddLink(t *testing.T) {
	s := testSigner(t, "a")
	id := s.ServerID()
	c := NewCache(id)
	l := Link{Chan: id.Chan, Book: id.Book, Addrs: []string{"example.org:7000"},
		Entries:  []SignedEntry{mustSign(t, s, relayEntry(1))},
		Unsigned: []Entry{{ID: "x", Kind: KindRelay, Spec: transport.Spec{Name: "direct", Addr: "192.0.2.1:1"}}}}
	if err := c.AddLink(l, SourceLink, t0); err != nil {
		t.Fatal(err)
	}
	recs := c.Records(t0)
	if len(recs) != 3 || !recs[0].Signed || recs[1].Signed || recs[2].Signed {
		t.Fatalf("records %+v", recs)
	}
	other := testSigner(t, "b").ServerID()
	if err := c.AddLink(Link{Chan: other.Chan, Addrs: []string{"a:1"}}, SourceLink, t0); !errors.Is(err, ErrWrongBook) {
		t.Errorf("link of another server: %v", err)
	}
}

func TestCacheSerialization(t *testing.T) {
	s := testSigner(t, "a")
	c := NewCache(s.ServerID())
	short := relayEntry(2)
	short.NotAfter = t0.Add(time.Hour)
	data, _ := s.SignBook(3, t0, []SignedEntry{mustSign(t, s, relayEntry(1)), mustSign(t, s, short)}, []Revocation{{"r7", 2}})
	if _, err := c.MergeBook(data, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddUnsigned(KindRelay, "mine", transport.Spec{Name: "direct", Addr: "192.0.2.1:80"}, SourceUser, t0); err != nil {
		t.Fatal(err)
	}
	enc, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalCache(enc, s.ServerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Records(t0), c.Records(t0)) || back.Version() != 3 {
		t.Fatalf("round trip differs:\n%+v\n%+v", back.Records(t0), c.Records(t0))
	}
	if err := back.AddSigned(mustSign(t, s, Entry{ID: "r7", Kind: KindRelay, Serial: 2, NotAfter: t0.Add(time.Hour), Spec: transport.Spec{Name: "direct", Addr: "a:1"}}), SourceLink, t0); !errors.Is(err, ErrRevoked) {
		t.Errorf("revocation lost in round trip: %v", err)
	}
	enc2, _ := back.MarshalBinary()
	if !reflect.DeepEqual(enc, enc2) {
		t.Error("encoding not stable")
	}
	// Two hours later the short entry is gone on load.
	later, err := UnmarshalCache(enc, s.ServerID(), t0.Add(2*time.Hour))
	if err != nil || len(later.Records(t0)) != 2 {
		t.Fatalf("later: %v", err)
	}
	// A store that tampers with a signed entry is caught.
	for i := 80; i < len(enc)-13; i += 7 { // the last 13 bytes are the revocation list
		bad := append([]byte(nil), enc...)
		bad[i] ^= 0x20
		if c2, err := UnmarshalCache(bad, s.ServerID(), t0); err == nil && reflect.DeepEqual(c2.Records(t0), c.Records(t0)) {
			t.Errorf("flipping byte %d changed nothing", i)
		}
	}
	if _, err := UnmarshalCache(enc, testSigner(t, "b").ServerID(), t0); !errors.Is(err, ErrWrongBook) {
		t.Errorf("cache of another server: %v", err)
	}
}
