//go:build !js

package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/channel/channelwire/channelwiretest"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/store/blobfs"
	"github.com/samizdat-project/samizdat/wire"
)

// mediaChannel is a channel on a real server whose post 1 is a media post
// of a random file of 600 KiB (three chunks), its chunks in the server's
// blob store.
type mediaChannel struct {
	srv    *servertest.Server
	owner  ed25519.PrivateKey
	link   client.ChannelLink
	desc   []byte // the channel's descriptor
	post   []byte // the media post
	plain  []byte
	chunks [][]byte
}

func newMediaChannel(t *testing.T, ctx context.Context) *mediaChannel {
	t.Helper()
	blobs, err := blobfs.Open(filepath.Join(t.TempDir(), "blobs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mc := &mediaChannel{srv: servertest.Start(t, func(c *server.Config) { c.Blobs = blobs })}
	_, owner, _ := ed25519.GenerateKey(nil)
	mc.owner = owner
	d, err := channel.NewDescriptor(owner, "photos", uint64(time.Now().Unix()))
	if err != nil {
		t.Fatal(err)
	}
	mc.desc = d.Encode()
	mc.link = client.ChannelLink{Owner: channel.KeyOf(owner), Name: "photos", Server: client.ServerLink{Key: mc.srv.Link.Key, Addrs: mc.srv.Link.Addrs}}
	mc.plain = make([]byte, 600<<10)
	rand.Read(mc.plain)
	key := attach.NewKey()
	s, err := attach.NewSealer(key, bytes.NewReader(mc.plain), int64(len(mc.plain)))
	if err != nil {
		t.Fatal(err)
	}
	a := &attach.Attachment{Key: key, Size: int64(len(mc.plain)), MediaType: "image/jpeg", Name: "photo.jpg", Chunks: make([]attach.Hash, s.Count())}
	for i := range a.Chunks {
		ct, h, err := s.Seal(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Chunks[i] = h
		mc.chunks = append(mc.chunks, ct)
		if err := blobs.PutChunk(ctx, h, ct); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := &channel.Post{Channel: d.ID(), Seq: 1, Time: uint64(time.Now().UnixMilli()), Kind: channel.KindMedia,
		Body: (&channel.Media{Caption: "the square", Descriptor: enc}).Encode()}
	if err := p.Sign(owner, nil); err != nil {
		t.Fatal(err)
	}
	mc.post = p.Encode()
	oc, err := client.DialChannels(ctx, nil, mc.link.Server, client.NewReaderKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if err := oc.CreateChannel(ctx, mc.desc); err != nil {
		t.Fatal(err)
	}
	if err := oc.Post(ctx, mc.post); err != nil {
		t.Fatal(err)
	}
	return mc
}

// mirrorOf serves the channel's post and, through chunk, its chunks (chunk
// gets the index and the genuine bytes and returns what to serve).
func (mc *mediaChannel) mirrorOf(t *testing.T, ctx context.Context, chunk func(i int, b []byte) []byte) client.ServerLink {
	t.Helper()
	key, addr := channelwiretest.Serve(t, ctx, mc.desc, [][]byte{mc.post}, func(m wire.Message) wire.Message {
		g, ok := m.(*wire.GetChunk)
		if !ok {
			return nil
		}
		for i, c := range mc.chunks {
			if attach.HashOf(c) == attach.Hash(g.Hash) {
				return &wire.Chunk{Hash: g.Hash, Data: chunk(i, bytes.Clone(c))}
			}
		}
		return wire.Errorf(wire.CodeNotFound, "no such chunk")
	})
	return client.ServerLink{Key: key, Addrs: []string{addr}}
}

// follow returns a follower of link, started with start (Connect or
// CatchUp); it closes when the test ends.
func follow(t *testing.T, ctx context.Context, link client.ChannelLink, start func(*client.Follower, context.Context) error) *client.Follower {
	t.Helper()
	f := client.NewFollower(link, client.FollowerOptions{})
	t.Cleanup(func() { f.Close() })
	if err := start(f, ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// wantDownload downloads post 1's file through f into dir and fails the
// test unless it is the posted file byte for byte.
func (mc *mediaChannel) wantDownload(t *testing.T, ctx context.Context, f *client.Follower, dir, how string) {
	t.Helper()
	path, err := f.DownloadMedia(ctx, 1, dir, nil)
	if err != nil {
		t.Fatalf("download %s: %v", how, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, mc.plain) {
		t.Fatalf("the file downloaded %s differs from the posted one", how)
	}
}

func TestChannelMediaFromServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mc := newMediaChannel(t, ctx)
	f := follow(t, ctx, mc.link, (*client.Follower).Connect)
	page, _ := f.Read(0, 10)
	if len(page) != 1 || page[0].File == nil || page[0].File.Name != "photo.jpg" || page[0].File.Size != int64(len(mc.plain)) || page[0].Text != "the square" {
		t.Fatalf("Read shows %+v", page)
	}
	dir := t.TempDir()
	mc.wantDownload(t, ctx, f, dir, "from the server")
}

// TestAdversaryMirrorAltersChunk: with the server gone, a mirror serves a
// chunk of the photo with one bit flipped. The follower refuses it (the
// hash in the signed post does not match): alone, the download fails with
// ErrFileAltered and leaves no file; with an honest mirror after it, the
// download takes the rest from that one and the file is byte-identical.
func TestAdversaryMirrorAltersChunk(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mc := newMediaChannel(t, ctx)
	bad := mc.mirrorOf(t, ctx, func(i int, b []byte) []byte {
		if i == 1 {
			b[len(b)/2] ^= 1
		}
		return b
	})
	good := mc.mirrorOf(t, ctx, func(_ int, b []byte) []byte { return b })
	mc.srv.Stop()

	link := mc.link
	link.Relays = []client.ServerLink{bad}
	f := follow(t, ctx, link, (*client.Follower).CatchUp)
	dir := t.TempDir()
	_, err := f.DownloadMedia(ctx, 1, dir, nil)
	if !errors.Is(err, client.ErrFileAltered) {
		t.Fatalf("download through a tampering mirror: %v, want ErrFileAltered", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "photo.jpg")); err == nil {
		t.Fatal("a file was saved from a tampering mirror")
	}

	link.Relays = []client.ServerLink{bad, good}
	f2 := follow(t, ctx, link, (*client.Follower).CatchUp)
	mc.wantDownload(t, ctx, f2, dir, "with an honest mirror after the tampering one")
}

// TestChannelMediaDeleted: once the owner deletes a media post, a
// follower neither shows it nor downloads its file.
func TestChannelMediaDeleted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mc := newMediaChannel(t, ctx)
	del := &channel.Post{Channel: channel.ID(mc.link.ID()), Seq: 2, Time: uint64(time.Now().UnixMilli()), Kind: channel.KindDelete, Target: 1}
	if err := del.Sign(mc.owner, nil); err != nil {
		t.Fatal(err)
	}
	oc, err := client.DialChannels(ctx, nil, mc.link.Server, client.NewReaderKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if err := oc.Post(ctx, del.Encode()); err != nil {
		t.Fatal(err)
	}
	f := follow(t, ctx, mc.link, (*client.Follower).Connect)
	if page, _ := f.Read(0, 10); len(page) != 0 {
		t.Fatalf("Read shows a deleted post: %+v", page)
	}
	dir := t.TempDir()
	if _, err := f.DownloadMedia(ctx, 1, dir, nil); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("download of a deleted post's file: %v, want an error that says it was deleted", err)
	}
}
