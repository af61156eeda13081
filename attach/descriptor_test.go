package attach

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func sampleDescriptor() *Attachment {
	d := &Attachment{Key: Key{1, 2, 3}, Size: 2*ChunkSize + 1, MediaType: "image/jpeg", Name: "cat.jpg",
		Width: 640, Height: 480, Thumbnail: []byte{0xff, 0xd8, 0xff}}
	for i := 0; i < ChunkCount(d.Size); i++ {
		d.Chunks = append(d.Chunks, Hash{byte(i)})
	}
	return d
}

func TestDescriptorRoundTrip(t *testing.T) {
	d := sampleDescriptor()
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip changed the descriptor:\n got %+v\nwant %+v", got, d)
	}
}

func TestAdversaryDescriptor(t *testing.T) {
	good, _ := sampleDescriptor().Marshal()
	cases := map[string][]byte{
		"trailing":  append(bytes.Clone(good), 0),
		"truncated": good[:len(good)-1],
		"version":   append([]byte{2}, good[1:]...),
		"empty":     nil,
	}
	for _, name := range []string{"../../etc/passwd", "a/b", "..", "", "x\x00y", "evil\u202etxt.exe", "a\u2067b", "x\u200fy", "a\\b", "line\nbreak", "p\u2029q"} {
		d := sampleDescriptor()
		d.Name = name
		if _, err := d.Marshal(); err == nil {
			t.Errorf("Marshal accepted the name %q", name)
		}
		d.Name = "placeholder"
		b, _ := d.Marshal()
		cases["name "+name] = bytes.Replace(b, []byte("\x00\x0bplaceholder"), append([]byte{0, byte(len(name))}, name...), 1)
	}
	d := sampleDescriptor()
	d.Chunks = d.Chunks[:1]
	d2 := *sampleDescriptor()
	b, _ := d2.Marshal()
	// chunk count that does not match the size: patch the size field.
	bad := bytes.Clone(b)
	bad[1+32+7] = 0 // size 2*ChunkSize+1 -> 2*ChunkSize
	cases["count/size mismatch"] = bad
	for name, in := range cases {
		if _, err := Unmarshal(in); !errors.Is(err, ErrDescriptor) {
			t.Errorf("%s: Unmarshal = %v, want ErrDescriptor", name, err)
		}
	}
	if _, err := d.Marshal(); err == nil {
		t.Error("Marshal accepted too few chunk hashes")
	}
}

// FuzzUnmarshal: Unmarshal never panics, and what it accepts re-encodes
// to the same bytes.
func FuzzUnmarshal(f *testing.F) {
	good, _ := sampleDescriptor().Marshal()
	f.Add(good)
	empty := &Attachment{Size: 0, Chunks: []Hash{{}}, MediaType: "text/plain", Name: "e"}
	b, _ := empty.Marshal()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := Unmarshal(in)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("decoded descriptor does not re-encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs:\n  in %x\n out %x", in, out)
		}
	})
}
