package channel

import (
	"bytes"
	"testing"
)

// FuzzDecodePost: DecodePost never panics, and what it accepts re-encodes
// to the same bytes.
func FuzzDecodePost(f *testing.F) {
	owner := key(1)
	id := IDOf(KeyOf(owner))
	p := &Post{Channel: id, Seq: 1, Time: 2, Kind: KindText, Body: []byte("hi")}
	p.Sign(owner, nil)
	f.Add(p.Encode())
	cert := NewAdminCert(owner, KeyOf(key(2)), 99).Encode()
	q := &Post{Channel: id, Seq: 3, Time: 2, Kind: KindEdit, Target: 1, Body: []byte("e")}
	q.Sign(key(2), cert)
	f.Add(q.Encode())
	desc, _ := mediaDescriptor(f)
	r := &Post{Channel: id, Seq: 4, Time: 2, Kind: KindMedia, Body: (&Media{Caption: "c", Descriptor: desc}).Encode()}
	r.Sign(owner, nil)
	f.Add(r.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePost(b)
		if err != nil {
			return
		}
		if out := p.Encode(); !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n  in %x\n out %x", b, out)
		}
		NewState(KeyOf(owner)).Verify(p) // must not panic
	})
}

// FuzzDecodeDescriptor and admin certificates: no panic; canonical.
func FuzzDecodeDescriptor(f *testing.F) {
	d, _ := NewDescriptor(key(1), "news", 5)
	f.Add(d.Encode())
	f.Add(NewAdminCert(key(1), KeyOf(key(2)), 99).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := DecodeDescriptor(b); err == nil && !bytes.Equal(d.Encode(), b) {
			t.Fatalf("descriptor re-encoding differs")
		}
		if c, err := DecodeAdminCert(b); err == nil && !bytes.Equal(c.Encode(), b) {
			t.Fatalf("admin cert re-encoding differs")
		}
	})
}
