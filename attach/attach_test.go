package attach

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

// sealAll seals data and returns the descriptor and the sealed chunks.
func sealAll(t *testing.T, data []byte) (*Attachment, [][]byte) {
	t.Helper()
	key := NewKey()
	s, err := NewSealer(key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	d := &Attachment{Key: key, Size: int64(len(data)), MediaType: "application/octet-stream", Name: "f.bin"}
	var chunks [][]byte
	for i := 0; i < s.Count(); i++ {
		ct, h, err := s.Seal(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Chunks = append(d.Chunks, h)
		chunks = append(chunks, ct)
	}
	return d, chunks
}

// openAll opens every chunk in order and concatenates the file bytes.
func openAll(d *Attachment, chunks [][]byte) ([]byte, error) {
	o, err := NewOpener(d)
	if err != nil {
		return nil, err
	}
	var out []byte
	for i, c := range chunks {
		pt, err := o.Open(i, c)
		if err != nil {
			return nil, err
		}
		out = append(out, pt...)
	}
	return out, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRoundTripSizes(t *testing.T) {
	for _, n := range []int{0, 1, 100, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 12345} {
		data := randomBytes(n)
		d, chunks := sealAll(t, data)
		if len(chunks) != ChunkCount(int64(n)) {
			t.Fatalf("%d bytes: %d chunks, want %d", n, len(chunks), ChunkCount(int64(n)))
		}
		got, err := openAll(d, chunks)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: round trip failed: %v", n, err)
		}
		var sealed int
		for _, c := range chunks {
			sealed += len(c) - Overhead
		}
		if int64(sealed) != PaddedSize(int64(n)) {
			t.Fatalf("%d bytes: sealed %d plaintext bytes, want the padded size %d", n, sealed, PaddedSize(int64(n)))
		}
	}
}

// TestSealDeterministic: a resumed upload re-seals the same chunks.
func TestSealDeterministic(t *testing.T) {
	data := randomBytes(2*ChunkSize + 7)
	key := NewKey()
	a, _ := NewSealer(key, bytes.NewReader(data), int64(len(data)))
	b, _ := NewSealer(key, bytes.NewReader(data), int64(len(data)))
	for i := 0; i < a.Count(); i++ {
		_, h1, _ := a.Seal(i, nil)
		_, h2, _ := b.Seal(i, nil)
		if h1 != h2 {
			t.Fatalf("chunk %d sealed differently twice", i)
		}
	}
}

func TestPaddedSize(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 3, 9, 100, 1000, 12345, 1 << 20, 50 << 20, 50<<20 + 1, MaxSize - 1, MaxSize} {
		p := PaddedSize(n)
		if p < n || (n > 0 && float64(p-n)/float64(n) > 0.12) || p > MaxSize && n <= MaxSize {
			t.Errorf("PaddedSize(%d) = %d: not within 12%% above", n, p)
		}
	}
	// Sizes close together share a padded size: the exact size is hidden.
	if PaddedSize(50<<20+1) != PaddedSize(50<<20+1000) {
		t.Errorf("Padmé should map 50 MiB+1 and 50 MiB+1000 to one size: %d vs %d", PaddedSize(50<<20+1), PaddedSize(50<<20+1000))
	}
}

// TestVerifyPartial: a resumed download recognizes chunks it already has.
func TestVerifyPartial(t *testing.T) {
	data := randomBytes(ChunkSize + 99)
	d, _ := sealAll(t, data)
	o, _ := NewOpener(d)
	if !o.Verify(0, data[:ChunkSize]) || !o.Verify(1, data[ChunkSize:]) {
		t.Fatal("Verify refused the file's own bytes")
	}
	bad := bytes.Clone(data[ChunkSize:])
	bad[0] ^= 1
	if o.Verify(1, bad) || o.Verify(1, data[ChunkSize:len(data)-1]) {
		t.Fatal("Verify accepted altered bytes")
	}
}

func TestAdversaryAlteredChunk(t *testing.T) {
	d, chunks := sealAll(t, randomBytes(2*ChunkSize))
	chunks[1][10] ^= 0x80
	if _, err := openAll(d, chunks); !errors.Is(err, ErrHash) {
		t.Fatalf("altered chunk: got %v, want ErrHash", err)
	}
}

// TestAdversaryForgedChunk: a server that also rewrites the hash in its
// own index still cannot pass a chunk the descriptor does not name; and a
// descriptor forged to match it (an insider without the key) fails the tag.
func TestAdversaryForgedChunk(t *testing.T) {
	d, chunks := sealAll(t, randomBytes(ChunkSize+5))
	forged := randomBytes(len(chunks[0]))
	chunks[0] = forged
	if _, err := openAll(d, chunks); !errors.Is(err, ErrHash) {
		t.Fatalf("forged chunk: got %v, want ErrHash", err)
	}
	d.Chunks[0] = HashOf(forged)
	if _, err := openAll(d, chunks); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged chunk with a matching hash: got %v, want ErrAuth", err)
	}
}

// TestAdversaryReorderedChunks: swapping two chunks and their hashes (the
// descriptor is the sender's, but a chunk list could be replayed from
// another position) fails: the index is bound in.
func TestAdversaryReorderedChunks(t *testing.T) {
	d, chunks := sealAll(t, randomBytes(3*ChunkSize))
	chunks[0], chunks[1] = chunks[1], chunks[0]
	d.Chunks[0], d.Chunks[1] = d.Chunks[1], d.Chunks[0]
	if _, err := openAll(d, chunks); !errors.Is(err, ErrAuth) {
		t.Fatalf("reordered chunks: got %v, want ErrAuth", err)
	}
}

// TestAdversaryTruncatedFile: a file cut short (fewer chunks, size
// adjusted to match) fails: the chunk count is bound in.
func TestAdversaryTruncatedFile(t *testing.T) {
	d, chunks := sealAll(t, randomBytes(3*ChunkSize))
	d.Size = 2 * ChunkSize
	d.Chunks = d.Chunks[:2]
	if _, err := openAll(d, chunks[:2]); !errors.Is(err, ErrAuth) {
		t.Fatalf("truncated file: got %v, want ErrAuth", err)
	}
}

// TestAdversaryWrongIndex: a chunk opened at an index it was not sealed for.
func TestAdversaryWrongIndex(t *testing.T) {
	d, chunks := sealAll(t, randomBytes(2*ChunkSize))
	o, _ := NewOpener(d)
	if _, err := o.Open(2, chunks[1]); !errors.Is(err, ErrIndex) {
		t.Fatalf("index past the end: got %v", err)
	}
	if _, err := o.Open(0, chunks[1]); err == nil {
		t.Fatal("chunk 1 opened as chunk 0")
	}
}

func TestSealerRefusesShrunkFile(t *testing.T) {
	data := randomBytes(ChunkSize + 10)
	s, _ := NewSealer(NewKey(), bytes.NewReader(data[:ChunkSize]), int64(len(data)))
	if _, _, err := s.Seal(1, nil); !errors.Is(err, ErrChanged) {
		t.Fatalf("sealing past the end of a shrunk file: got %v, want ErrChanged", err)
	}
}

// TestOpenInPlace: OpenInPlace gives what Open gives, in the chunk's own
// storage, and refuses an altered chunk as Open does.
func TestOpenInPlace(t *testing.T) {
	data := randomBytes(2*ChunkSize + 99)
	d, chunks := sealAll(t, data)
	o, err := NewOpener(d)
	if err != nil {
		t.Fatal(err)
	}
	altered := bytes.Clone(chunks[1])
	altered[10] ^= 1
	var out []byte
	for i, c := range chunks {
		pt, err := o.OpenInPlace(i, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 0 && &pt[0] != &c[0] {
			t.Fatalf("chunk %d was not opened in place", i)
		}
		out = append(out, pt...)
	}
	if !bytes.Equal(out, data) {
		t.Fatal("OpenInPlace round trip differs")
	}
	if _, err := o.OpenInPlace(1, altered); !errors.Is(err, ErrHash) {
		t.Fatalf("altered chunk opened in place: %v", err)
	}
}
