package reach

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/transport"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// testSigner returns a deterministic signer named by seed.
func testSigner(t testing.TB, seed string) *Signer {
	t.Helper()
	h := sha256.Sum256([]byte("book " + seed))
	var chanKey securechan.ServerPublic
	c := sha256.Sum256([]byte("chan " + seed))
	copy(chanKey[:], c[:])
	s, err := NewSigner(ed25519.NewKeyFromSeed(h[:]), chanKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func relayEntry(i int) Entry {
	return Entry{
		ID: fmt.Sprintf("r%d", i), Kind: KindRelay, Serial: 1, NotAfter: t0.Add(7 * 24 * time.Hour),
		Label: fmt.Sprintf("relay %d", i),
		Spec: transport.Spec{Name: "tlsws", Addr: fmt.Sprintf("198.51.100.%d:443", i%250+1),
			Params: map[string]string{"path": fmt.Sprintf("secret-%d", i), "sni": "cdn.example"}},
	}
}

func mustSign(t testing.TB, s *Signer, e Entry) SignedEntry {
	t.Helper()
	se, err := s.SignEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	return se
}

func TestEntryEncodingRoundTrip(t *testing.T) {
	for i, e := range []Entry{
		relayEntry(1),
		{ID: "d", Kind: KindDirect, Spec: transport.Spec{Name: "direct", Addr: "[2001:db8::1]:7000"}},
		{ID: "f.1", Kind: KindFront, Serial: 9, NotAfter: t0, Label: "фронт ✓", Spec: transport.Spec{Name: "tlsws", Addr: "cdn.example:443", Params: map[string]string{"host": "us.example"}}},
	} {
		enc, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		got, err := UnmarshalEntry(enc)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%d: round trip\n got %+v\nwant %+v", i, got, e)
		}
		if _, err := UnmarshalEntry(append(enc, 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d: trailing byte accepted: %v", i, err)
		}
	}
}

func TestEntryValidateRejects(t *testing.T) {
	good := relayEntry(1)
	for name, mut := range map[string]func(*Entry){
		"empty id":      func(e *Entry) { e.ID = "" },
		"upper id":      func(e *Entry) { e.ID = "Relay" },
		"kind 0":        func(e *Entry) { e.Kind = 0 },
		"control label": func(e *Entry) { e.Label = "a\nb" },
		"long label":    func(e *Entry) { e.Label = string(make([]byte, 65)) },
		"bad spec":      func(e *Entry) { e.Spec.Addr = "no-port" },
		"huge value":    func(e *Entry) { e.Spec.Params = map[string]string{"k": string(make([]byte, maxValueLen+1))} },
		"old expiry":    func(e *Entry) { e.NotAfter = time.Unix(-5, 0) },
	} {
		e := good
		mut(&e)
		if err := e.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Validate = %v, want ErrMalformed", name, err)
		}
	}
}

func TestSignedEntryVerify(t *testing.T) {
	s := testSigner(t, "a")
	id := s.ServerID()
	se := mustSign(t, s, relayEntry(1))
	if err := se.Verify(id, t0); err != nil {
		t.Fatalf("good entry: %v", err)
	}
	forgedSig := se
	forgedSig.Sig[5] ^= 1
	tampered := se
	tampered.Entry.Spec.Addr = "203.0.113.9:443"
	raisedSerial := se
	raisedSerial.Entry.Serial++
	extended := se
	extended.Entry.NotAfter = extended.Entry.NotAfter.Add(time.Hour)
	unsigned := SignedEntry{Entry: se.Entry}
	other := testSigner(t, "b")
	otherChan := id
	otherChan.Chan = other.ServerID().Chan
	noExpiry := se
	noExpiry.Entry.NotAfter = time.Time{}
	for _, tc := range []struct {
		name string
		se   SignedEntry
		id   ServerID
		now  time.Time
		want error
	}{
		{"forged signature", forgedSig, id, t0, ErrBadSig},
		{"tampered address", tampered, id, t0, ErrBadSig},
		{"raised serial", raisedSerial, id, t0, ErrBadSig},
		{"extended expiry", extended, id, t0, ErrBadSig},
		{"unsigned", unsigned, id, t0, ErrBadSig},
		{"wrong book key", se, other.ServerID(), t0, ErrBadSig},
		{"same book key, other server", se, otherChan, t0, ErrBadSig},
		{"no expiry", noExpiry, id, t0, ErrBadSig},
		{"expired", se, id, se.Entry.NotAfter, ErrExpired},
		{"long expired", se, id, se.Entry.NotAfter.Add(time.Hour), ErrExpired},
	} {
		if err := tc.se.Verify(tc.id, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := s.SignEntry(Entry{ID: "x", Kind: KindRelay, Spec: transport.Spec{Name: "direct", Addr: "a:1"}}); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("signing an entry without expiry: %v", err)
	}
}

func TestBookSignAndVerify(t *testing.T) {
	s := testSigner(t, "a")
	id := s.ServerID()
	live := []SignedEntry{mustSign(t, s, relayEntry(1)), mustSign(t, s, relayEntry(2))}
	short := relayEntry(3)
	short.NotAfter = t0.Add(time.Minute)
	entries := append(live, mustSign(t, s, short))
	data, err := s.SignBook(7, t0, entries, []Revocation{{ID: "r9", Serial: 4}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := VerifyBook(data, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != 7 || !b.IssuedAt.Equal(t0) || len(b.Entries) != 3 || len(b.Revoked) != 1 || b.Revoked[0] != (Revocation{"r9", 4}) {
		t.Fatalf("book = %+v", b)
	}
	// An hour later the short entry has expired and is dropped, the book
	// still verifies.
	b, err = VerifyBook(data, id, t0.Add(time.Hour))
	if err != nil || !reflect.DeepEqual(b.Entries, live) {
		t.Fatalf("later: %v, entries %d", err, len(b.Entries))
	}

	flip := func(i int) []byte { d := append([]byte(nil), data...); d[i] ^= 1; return d }
	if _, err := VerifyBook(flip(len(data)-1), id, t0); !errors.Is(err, ErrBadSig) {
		t.Errorf("forged book signature: %v", err)
	}
	if _, err := VerifyBook(flip(4+64+7), id, t0); !errors.Is(err, ErrBadSig) {
		t.Errorf("changed version: %v", err)
	}
	if _, err := VerifyBook(data, testSigner(t, "b").ServerID(), t0); !errors.Is(err, ErrWrongBook) {
		t.Errorf("book for another server: %v", err)
	}
	// A book whose signature is valid but one entry is forged fails whole:
	// the server never signs such a book, so someone holds its key or it is
	// a bug.
	bad := mustSign(t, s, relayEntry(4))
	bad.Sig[0] ^= 1
	data2, _ := s.SignBook(8, t0, []SignedEntry{live[0], bad}, nil)
	if _, err := VerifyBook(data2, id, t0); !errors.Is(err, ErrBadSig) {
		t.Errorf("book with a forged entry: %v", err)
	}
	// Entries signed by another key inside a book signed by ours: rejected.
	foreign := mustSign(t, testSigner(t, "b"), relayEntry(5))
	data3, _ := s.SignBook(9, t0, []SignedEntry{foreign}, nil)
	if _, err := VerifyBook(data3, id, t0); !errors.Is(err, ErrBadSig) {
		t.Errorf("book with a foreign entry: %v", err)
	}
	if _, err := VerifyBook(data[:len(data)-70], id, t0); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated book: %v", err)
	}
}

func TestBookEncodingIsCanonical(t *testing.T) {
	s := testSigner(t, "a")
	data, err := s.SignBook(3, t0, []SignedEntry{mustSign(t, s, relayEntry(1))}, []Revocation{{"x", 1}})
	if err != nil {
		t.Fatal(err)
	}
	b, sig, err := parseBook(data)
	if err != nil {
		t.Fatal(err)
	}
	body, err := b.marshalBody()
	if err != nil {
		t.Fatal(err)
	}
	if got := append(body, sig...); !reflect.DeepEqual(got, data) {
		t.Fatal("re-encoded book differs")
	}
}
