package channel

import (
	"bytes"
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/attach"
)

func mediaDescriptor(t testing.TB) ([]byte, *attach.Attachment) {
	t.Helper()
	a := &attach.Attachment{Key: attach.NewKey(), Size: 3, Chunks: make([]attach.Hash, 1), MediaType: "image/png", Name: "cat.png", Width: 2, Height: 1}
	a.Chunks[0][0] = 7
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b, a
}

func TestMediaPost(t *testing.T) {
	owner := key(1)
	st := NewState(KeyOf(owner))
	desc, a := mediaDescriptor(t)
	p := &Post{Channel: st.ID, Seq: 1, Time: 5, Kind: KindMedia, Body: (&Media{Caption: "a cat", Descriptor: desc}).Encode()}
	if err := p.Sign(owner, nil); err != nil {
		t.Fatal(err)
	}
	got, err := st.VerifyEncoded(p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	m, ga, err := got.Media()
	if err != nil {
		t.Fatal(err)
	}
	if m.Caption != "a cat" || !bytes.Equal(m.Descriptor, desc) || ga.Chunks[0] != a.Chunks[0] || ga.Name != "cat.png" {
		t.Fatalf("media round trip: %+v %+v", m, ga)
	}
	// The chunk hashes are signed: a relay that swaps one is caught.
	enc := p.Encode()
	i := bytes.Index(enc, a.Chunks[0][:])
	if i < 0 {
		t.Fatal("chunk hash not found in the encoding")
	}
	enc[i] ^= 1
	if _, err := st.VerifyEncoded(enc); !errors.Is(err, ErrSignature) {
		t.Fatalf("post with a swapped chunk hash: %v, want ErrSignature", err)
	}
}

// TestAdversaryBadMediaBody: a media post whose body is not a valid
// attachment is refused before any signature is checked.
func TestAdversaryBadMediaBody(t *testing.T) {
	owner := key(1)
	id := IDOf(KeyOf(owner))
	desc, _ := mediaDescriptor(t)
	for name, body := range map[string][]byte{
		"empty":          nil,
		"text":           []byte("just text"),
		"no descriptor":  (&Media{Caption: "x"}).Encode(),
		"bad descriptor": (&Media{Descriptor: []byte{1, 2, 3}}).Encode(),
		"bad caption":    (&Media{Caption: "\xff", Descriptor: desc}).Encode(),
		"trailing":       append((&Media{Descriptor: desc}).Encode(), 0),
	} {
		p := &Post{Channel: id, Seq: 1, Time: 5, Kind: KindMedia, Body: body}
		if err := p.Sign(owner, nil); err == nil || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrTrailing) || errors.Is(err, ErrTooLarge)) {
			t.Errorf("%s: Sign: %v, want a format error", name, err)
		}
	}
	p := &Post{Channel: id, Seq: 2, Time: 5, Kind: KindMedia, Target: 1, Body: (&Media{Descriptor: desc}).Encode()}
	if err := p.Sign(owner, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("media post with a target: %v", err)
	}
}

// FuzzDecodeMedia: no panic; what decodes re-encodes to the same bytes.
func FuzzDecodeMedia(f *testing.F) {
	desc, _ := mediaDescriptor(f)
	f.Add((&Media{Caption: "hi", Descriptor: desc}).Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, _, err := DecodeMedia(b); err == nil && !bytes.Equal(m.Encode(), b) {
			t.Fatalf("media re-encoding differs")
		}
	})
}
