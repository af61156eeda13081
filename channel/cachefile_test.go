package channel

import (
	"bytes"
	"testing"
)

func filledCache(t testing.TB) (*Cache, ID, ID) {
	t.Helper()
	c := NewCache(10, 4)
	var ids []ID
	for _, seed := range []byte{1, 2} {
		owner := key(seed)
		d, err := NewDescriptor(owner, "news", 1_790_000_000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddChannel(d.Encode()); err != nil {
			t.Fatal(err)
		}
		for seq := uint64(1); seq <= 3; seq++ {
			if err := c.Insert(textPost(t, owner, nil, d.ID(), seq, "post").Encode()); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, d.ID())
	}
	return c, ids[0], ids[1]
}

func TestCacheFileRoundTrip(t *testing.T) {
	c, a, b := filledCache(t)
	file, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	d := NewCache(10, 4)
	refused, why, err := d.Load(file, nil)
	if err != nil || refused != 0 {
		t.Fatalf("Load: refused %d (%v), err %v", refused, why, err)
	}
	for _, id := range []ID{a, b} {
		want, _, _ := c.After(id, 0, 10)
		got, _, err := d.After(id, 0, 10)
		if err != nil || len(got) != 3 {
			t.Fatalf("loaded channel has %d posts, err %v", len(got), err)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("post %d differs after the round trip", i)
			}
		}
	}
	again, _ := d.MarshalBinary()
	if !bytes.Equal(again, file) {
		t.Fatal("a loaded cache encodes differently")
	}

	// keep selects channels.
	e := NewCache(10, 4)
	if _, _, err := e.Load(file, func(id ID) bool { return id == b }); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Descriptor(a); ok {
		t.Fatal("a channel keep refused was loaded")
	}
	if e.LastSeq(b) != 3 {
		t.Fatalf("kept channel has last seq %d, want 3", e.LastSeq(b))
	}
}

func TestCacheFileTamperedPostRefused(t *testing.T) {
	c, a, _ := filledCache(t)
	file, _ := c.MarshalBinary()
	posts, _, _ := c.After(a, 0, 10)
	i := bytes.Index(file, posts[1])
	if i < 0 {
		t.Fatal("post not found in the file")
	}
	// Alter one byte of the second post's body ("post" -> "Post"), which
	// keeps the file well-formed.
	body := bytes.Index(file[i:], []byte("post")) + i
	bad := bytes.Clone(file)
	bad[body] = 'P'
	d := NewCache(10, 4)
	refused, why, err := d.Load(bad, nil)
	if err != nil {
		t.Fatalf("a well-formed file with a bad post: %v", err)
	}
	if refused != 1 || why == nil {
		t.Fatalf("refused %d (%v), want the one altered post", refused, why)
	}
	got, _, _ := d.After(a, 0, 10)
	if len(got) != 2 {
		t.Fatalf("%d posts kept, want the 2 genuine ones", len(got))
	}
	for _, p := range got {
		if bytes.Contains(p, []byte("Post")) {
			t.Fatal("the altered post was kept")
		}
	}
}

func TestCacheFileDamaged(t *testing.T) {
	c, _, _ := filledCache(t)
	file, _ := c.MarshalBinary()
	if _, _, err := NewCache(10, 4).Load([]byte("not a cache"), nil); err == nil {
		t.Fatal("a file without the magic loaded")
	}
	for n := len(cacheMagic); n < len(file); n += 7 {
		// Every truncation parses without panicking; a cut inside an
		// entry is an error.
		NewCache(10, 4).Load(file[:n], nil)
	}
	if _, _, err := NewCache(10, 4).Load(file[:len(file)-1], nil); err == nil {
		t.Fatal("a truncated file loaded without error")
	}
}

func FuzzCacheLoad(f *testing.F) {
	c, _, _ := filledCache(f)
	file, _ := c.MarshalBinary()
	f.Add(file)
	f.Add(cacheMagic)
	f.Fuzz(func(t *testing.T, b []byte) {
		NewCache(10, 4).Load(b, nil)
	})
}
