package mirror_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/channel/channelwire/channelwiretest"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/mirror"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/blobfs"
	"github.com/samizdat-project/samizdat/wire"
)

// sealedFile seals size random bytes and returns the chunks and the
// descriptor of the file.
func sealedFile(t *testing.T, size int64) ([][]byte, []byte) {
	t.Helper()
	plain := make([]byte, size)
	rand.Read(plain)
	key := attach.NewKey()
	s, err := attach.NewSealer(key, bytes.NewReader(plain), size)
	if err != nil {
		t.Fatal(err)
	}
	a := &attach.Attachment{Key: key, Size: size, MediaType: "image/jpeg", Name: "photo.jpg", Chunks: make([]attach.Hash, s.Count())}
	var chunks [][]byte
	for i := range a.Chunks {
		ct, h, err := s.Seal(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Chunks[i] = h
		chunks = append(chunks, ct)
	}
	desc, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return chunks, desc
}

func mediaPost(t *testing.T, owner ed25519.PrivateKey, id channel.ID, seq uint64, desc []byte) []byte {
	t.Helper()
	p := &channel.Post{Channel: id, Seq: seq, Time: uint64(time.Now().UnixMilli()), Kind: channel.KindMedia,
		Body: (&channel.Media{Caption: "a photo", Descriptor: desc}).Encode()}
	if err := p.Sign(owner, nil); err != nil {
		t.Fatal(err)
	}
	return p.Encode()
}

func openMedia(t *testing.T) *blobfs.Store {
	t.Helper()
	st, err := blobfs.Open(filepath.Join(t.TempDir(), "media"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestMirrorServesMedia: the owner's chunks are on the server; the mirror
// fetches the chunks of a media post made before it started and of one
// pushed after, and serves them once the server is gone, also after a
// restart.
func TestMirrorServesMedia(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blobs := openMedia(t)
	srv, stopServer := startServer(t, func(c *server.Config) { c.Blobs = blobs })
	link, owner, oc := channelOn(t, ctx, srv, 1)
	id := channel.ID(link.ID())
	var all [][]byte
	var at client.ServerLink
	var m *mirror.Mirror
	var cfg mirror.Config
	var stopMirror func()
	for seq := uint64(2); seq <= 3; seq++ {
		chunks, desc := sealedFile(t, 300<<10) // two chunks each
		for _, c := range chunks {
			if err := blobs.PutChunk(ctx, attach.HashOf(c), c); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, chunks...)
		if err := oc.Post(ctx, mediaPost(t, owner, id, seq, desc)); err != nil {
			t.Fatal(err)
		}
		if seq == 2 {
			cfg = mirror.Config{Links: []client.ChannelLink{link}, PerChannel: 10, Media: openMedia(t), CachePath: filepath.Join(t.TempDir(), "channels.cache")}
			at, m, stopMirror = startMirror(t, cfg)
		}
		e2etest.Eventually(t, "the mirror to fetch the post's media", 20*time.Second, func() bool { return m.MediaStored() == int64(len(all)) })
	}
	stopServer()
	if m.MediaRefused() != 0 {
		t.Fatalf("the mirror refused %d chunks of an honest server", m.MediaRefused())
	}
	checkChunks := func(at client.ServerLink) {
		c, err := client.DialChannels(ctx, nil, at, client.NewReaderKey(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i, want := range all {
			got, err := c.GetChunk(ctx, attach.HashOf(want))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("chunk %d from the mirror: %v (equal: %v)", i, err, bytes.Equal(got, want))
			}
		}
	}
	checkChunks(at)
	// Restarted with the server still gone, it serves them from its store.
	stopMirror()
	at2, _, _ := startMirror(t, cfg)
	checkChunks(at2)
}

// TestAdversaryServerServesAlteredChunk: the channel's server answers
// GetChunk with bytes that are not the chunk the signed post names. The
// mirror refuses them: nothing is stored, and it serves nothing for that
// hash. (Without the check in client.ChannelConn.GetChunk, the mirror
// stored the altered bytes under the post's hash.)
func TestAdversaryServerServesAlteredChunk(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, owner, _ := ed25519.GenerateKey(nil)
	d, err := channel.NewDescriptor(owner, "news", uint64(time.Now().Unix()))
	if err != nil {
		t.Fatal(err)
	}
	chunks, desc := sealedFile(t, 1000)
	// The lying server: it serves the posts honestly and every chunk with
	// one bit flipped.
	key, addr := channelwiretest.Serve(t, ctx, d.Encode(), [][]byte{mediaPost(t, owner, d.ID(), 1, desc)}, func(m wire.Message) wire.Message {
		switch m := m.(type) {
		case *wire.SubscribeChannel:
			return &wire.OK{}
		case *wire.GetChunk:
			bad := bytes.Clone(chunks[0])
			bad[0] ^= 1
			return &wire.Chunk{Hash: m.Hash, Data: bad}
		}
		return nil
	})
	link := client.ChannelLink{Owner: channel.KeyOf(owner), Name: "news", Server: client.ServerLink{Key: key, Addrs: []string{addr}}}
	media := &plainStore{chunks: map[[32]byte][]byte{}}
	at, m, _ := startMirror(t, mirror.Config{Links: []client.ChannelLink{link}, PerChannel: 10, Media: media})
	e2etest.Eventually(t, "the mirror to refuse (or store) the altered chunk", 20*time.Second, func() bool { return m.MediaRefused() >= 1 || media.len() > 0 })
	if n := media.len(); n != 0 || m.MediaStored() != 0 {
		t.Fatalf("the mirror stored %d chunks (counted %d) from a server that altered them", n, m.MediaStored())
	}
	c, err := client.DialChannels(ctx, nil, at, client.NewReaderKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.GetChunk(ctx, attach.HashOf(chunks[0]))
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeNotFound {
		t.Fatalf("the mirror answered GetChunk of the refused chunk with %v, want NotFound", err)
	}
}

// plainStore is a MediaStore in memory that stores what it is given, with
// no check of its own: the mirror's check is the only one.
type plainStore struct {
	mu     sync.Mutex
	chunks map[[32]byte][]byte
}

func (p *plainStore) len() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.chunks) }

func (p *plainStore) HasChunk(_ context.Context, h [32]byte) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.chunks[h]
	return ok, nil
}

func (p *plainStore) PutChunk(_ context.Context, h [32]byte, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chunks[h] = bytes.Clone(data)
	return nil
}

func (p *plainStore) GetChunk(_ context.Context, h [32]byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.chunks[h]; ok {
		return b, nil
	}
	return nil, fs.ErrNotExist
}

// TestMirrorSkipsDeletedMedia: the owner deleted a media post; the mirror
// does not fetch its chunks (it fetches those of a later post, in seq
// order, so their arrival shows the deleted one was passed over).
func TestMirrorSkipsDeletedMedia(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blobs := openMedia(t)
	srv, _ := startServer(t, func(c *server.Config) { c.Blobs = blobs })
	link, owner, oc := channelOn(t, ctx, srv, 0)
	id := channel.ID(link.ID())
	var files [2][][]byte
	for k := range files {
		chunks, desc := sealedFile(t, 1000)
		files[k] = chunks
		if err := blobs.PutChunk(ctx, attach.HashOf(chunks[0]), chunks[0]); err != nil {
			t.Fatal(err)
		}
		if err := oc.Post(ctx, mediaPost(t, owner, id, uint64(1+2*k), desc)); err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			del := &channel.Post{Channel: id, Seq: 2, Time: uint64(time.Now().UnixMilli()), Kind: channel.KindDelete, Target: 1}
			if err := del.Sign(owner, nil); err != nil {
				t.Fatal(err)
			}
			if err := oc.Post(ctx, del.Encode()); err != nil {
				t.Fatal(err)
			}
		}
	}
	media := &plainStore{chunks: map[[32]byte][]byte{}}
	_, m, _ := startMirror(t, mirror.Config{Links: []client.ChannelLink{link}, PerChannel: 10, Media: media})
	e2etest.Eventually(t, "the mirror to fetch the kept post's media", 20*time.Second, func() bool { return m.MediaStored() >= 1 })
	if have, _ := media.HasChunk(ctx, attach.HashOf(files[1][0])); !have || media.len() != 1 {
		t.Fatalf("the mirror holds %d chunks (the kept post's: %v), want only the kept post's", media.len(), have)
	}
}
