package channel

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
)

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func textPost(t testing.TB, signer ed25519.PrivateKey, cert []byte, id ID, seq uint64, text string) *Post {
	t.Helper()
	p := &Post{Channel: id, Seq: seq, Time: 1_790_000_000_000 + seq, Kind: KindText, Body: []byte(text)}
	if err := p.Sign(signer, cert); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDescriptor(t *testing.T) {
	owner := key(1)
	d, err := NewDescriptor(owner, "news", 1_790_000_000)
	if err != nil {
		t.Fatal(err)
	}
	enc := d.Encode()
	got, err := DecodeDescriptor(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != IDOf(KeyOf(owner)) || got.Name != "news" || !bytes.Equal(got.Encode(), enc) {
		t.Fatalf("descriptor round trip: %+v", got)
	}
	for i := range enc {
		bad := bytes.Clone(enc)
		bad[i] ^= 1
		if _, err := DecodeDescriptor(bad); err == nil {
			t.Fatalf("flipping a bit of byte %d still decodes", i)
		}
	}
	if _, err := NewDescriptor(owner, "", 1); err == nil {
		t.Fatal("empty name accepted")
	}
}

func TestOwnerPost(t *testing.T) {
	owner := key(1)
	st := NewState(KeyOf(owner))
	p := textPost(t, owner, nil, st.ID, 1, "hello")
	enc := p.Encode()
	got, err := st.VerifyEncoded(enc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != "hello" || got.Seq != 1 {
		t.Fatalf("got %+v", got)
	}
	// Altering any byte breaks it: either the decoder or the signature refuses.
	for i := range enc {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x80
		if _, err := st.VerifyEncoded(bad); err == nil {
			t.Fatalf("altered byte %d accepted", i)
		}
	}
	// A forger's post for this channel fails.
	forged := textPost(t, key(9), nil, st.ID, 2, "fake")
	if err := st.Verify(forged); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("forged post: %v", err)
	}
	// A forger claiming the owner as signer fails the signature.
	forged.Signer = st.Owner
	if err := st.Verify(forged); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged owner post: %v", err)
	}
	// Another channel's post fails.
	other := textPost(t, key(2), nil, IDOf(KeyOf(key(2))), 1, "x")
	if err := st.Verify(other); !errors.Is(err, ErrInvalid) {
		t.Fatalf("other channel's post: %v", err)
	}
}

func TestAdmins(t *testing.T) {
	owner, admin := key(1), key(2)
	st := NewState(KeyOf(owner))
	cert := NewAdminCert(owner, KeyOf(admin), 1_790_000_100) // expires 100 s after the posts' base time
	p := textPost(t, admin, cert.Encode(), st.ID, 1, "by admin")
	if err := st.Verify(p); err != nil {
		t.Fatalf("admin post: %v", err)
	}
	// Expired certificate.
	late := &Post{Channel: st.ID, Seq: 2, Time: 1_790_000_100_000, Kind: KindText, Body: []byte("late")}
	late.Sign(admin, cert.Encode())
	if err := st.Verify(late); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("expired cert: %v", err)
	}
	// A certificate signed by someone else.
	fake := NewAdminCert(key(3), KeyOf(admin), 1_900_000_000)
	fake.Channel = st.ID
	p2 := textPost(t, admin, fake.Encode(), st.ID, 3, "x")
	if err := st.Verify(p2); !errors.Is(err, ErrSignature) && !errors.Is(err, ErrInvalid) {
		t.Fatalf("fake cert: %v", err)
	}
	// A certificate for another key.
	p3 := textPost(t, key(4), cert.Encode(), st.ID, 4, "x")
	if err := st.Verify(p3); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("cert for another key: %v", err)
	}
	// Revocation at seq 5: admin posts after it fail, earlier ones stay valid.
	rev := &Post{Channel: st.ID, Seq: 5, Time: 1_790_000_000_005, Kind: KindRevoke, Body: keyBytes(admin)}
	if err := rev.Sign(owner, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Verify(rev); err != nil {
		t.Fatal(err)
	}
	st.Apply(rev)
	if err := st.Verify(p); err != nil {
		t.Fatalf("admin post before revocation: %v", err)
	}
	after := textPost(t, admin, cert.Encode(), st.ID, 6, "after")
	if err := st.Verify(after); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("post after revocation: %v", err)
	}
	// Admins cannot revoke.
	rev2 := &Post{Channel: st.ID, Seq: 7, Time: 1, Kind: KindRevoke, Body: keyBytes(owner)}
	rev2.Sign(admin, nil)
	if err := st.Verify(rev2); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("admin revoking: %v", err)
	}
}

func TestEditDelete(t *testing.T) {
	owner := key(1)
	st := NewState(KeyOf(owner))
	e := &Post{Channel: st.ID, Seq: 2, Time: 5, Kind: KindEdit, Target: 1, Body: []byte("fixed")}
	if err := e.Sign(owner, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.VerifyEncoded(e.Encode()); err != nil {
		t.Fatal(err)
	}
	d := &Post{Channel: st.ID, Seq: 3, Time: 5, Kind: KindDelete, Target: 1}
	if err := d.Sign(owner, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.VerifyEncoded(d.Encode()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*Post{
		{Channel: st.ID, Seq: 2, Kind: KindEdit, Target: 2, Body: []byte("x")}, // target not earlier
		{Channel: st.ID, Seq: 2, Kind: KindDelete, Target: 1, Body: []byte("x")},
		{Channel: st.ID, Seq: 0, Kind: KindText, Body: []byte("x")},
		{Channel: st.ID, Seq: 1, Kind: KindText},
		{Channel: st.ID, Seq: 1, Kind: 9, Body: []byte("x")},
		{Channel: st.ID, Seq: 1, Kind: KindText, Body: []byte{0xff}},
	} {
		if err := bad.Sign(owner, nil); err == nil {
			t.Errorf("bad post %+v was signed", bad)
		}
	}
}

func TestCache(t *testing.T) {
	owner := key(1)
	d, _ := NewDescriptor(owner, "news", 1)
	c := NewCache(3, 2)
	if err := c.Insert(textPost(t, owner, nil, d.ID(), 1, "x").Encode()); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("insert before AddChannel: %v", err)
	}
	if _, err := c.AddChannel(d.Encode()); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if err := c.Insert(textPost(t, owner, nil, d.ID(), seq, fmt.Sprint(seq)).Encode()); err != nil {
			t.Fatal(err)
		}
	}
	// Forged and altered posts are refused.
	if err := c.Insert(textPost(t, key(7), nil, d.ID(), 6, "forged").Encode()); err == nil {
		t.Fatal("forged post cached")
	}
	alt := textPost(t, owner, nil, d.ID(), 6, "genuine").Encode()
	alt[len(alt)-70] ^= 1
	if err := c.Insert(alt); err == nil {
		t.Fatal("altered post cached")
	}
	posts, more, err := c.After(d.ID(), 0, 2)
	if err != nil || len(posts) != 2 || !more {
		t.Fatalf("After(0, 2) = %d posts, more %v, %v", len(posts), more, err)
	}
	if _, seq, _ := PeekSeq(posts[0]); seq != 3 {
		t.Fatalf("oldest kept post is %d, want 3 (window of 3)", seq)
	}
	posts, more, _ = c.After(d.ID(), 4, 10)
	if len(posts) != 1 || more || c.LastSeq(d.ID()) != 5 {
		t.Fatalf("After(4) = %d posts, more %v", len(posts), more)
	}
	// Channel eviction: a third channel drops the least recently used.
	d2, _ := NewDescriptor(key(2), "b", 1)
	d3, _ := NewDescriptor(key(3), "c", 1)
	c.AddChannel(d2.Encode())
	c.After(d.ID(), 0, 1) // touch the first
	c.AddChannel(d3.Encode())
	if _, ok := c.Descriptor(d2.ID()); ok {
		t.Fatal("least recently used channel kept")
	}
	if _, ok := c.Descriptor(d.ID()); !ok {
		t.Fatal("recently used channel dropped")
	}
}

func TestCacheRevocationDropsLaterAdminPosts(t *testing.T) {
	owner, admin := key(1), key(2)
	d, _ := NewDescriptor(owner, "news", 1)
	c := NewCache(10, 1)
	c.AddChannel(d.Encode())
	cert := NewAdminCert(owner, KeyOf(admin), 1_900_000_000).Encode()
	c.Insert(textPost(t, admin, cert, d.ID(), 1, "a").Encode())
	c.Insert(textPost(t, admin, cert, d.ID(), 3, "b").Encode())
	rev := &Post{Channel: d.ID(), Seq: 2, Time: 1, Kind: KindRevoke, Body: keyBytes(admin)}
	rev.Sign(owner, nil)
	if err := c.Insert(rev.Encode()); err != nil {
		t.Fatal(err)
	}
	posts, _, _ := c.After(d.ID(), 0, 10)
	if len(posts) != 2 {
		t.Fatalf("after revocation the cache holds %d posts, want 2 (admin post 1 and the revocation)", len(posts))
	}
}

func keyBytes(k ed25519.PrivateKey) []byte { kk := KeyOf(k); return kk[:] }
