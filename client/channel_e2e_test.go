//go:build !js

package client_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/channel/channelwire"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/wire"
)

// channelServer is a real server on 127.0.0.1 with a real sqlite store.
type channelServer struct {
	link client.ServerLink
	stop func()
}

func startChannelServer(t *testing.T) *channelServer {
	s := servertest.Start(t, nil)
	return &channelServer{link: client.ServerLink{Key: s.Link.Key, Addrs: s.Link.Addrs}, stop: s.Stop}
}

// startRelayCache runs an in-process relay that mirrors the channel into a
// channel.Cache (by subscribing to the server) and answers channel fetches
// from it over the wire protocol.
func startRelayCache(t *testing.T, ctx context.Context, srv client.ServerLink, descriptor []byte) (client.ServerLink, *channel.Cache) {
	t.Helper()
	cache := channel.NewCache(100, 10)
	d, err := cache.AddChannel(descriptor)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := securechan.GenerateServerKey(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go channelwire.Serve(ctx, ln, key, cache)
	mirror, err := client.DialChannels(ctx, nil, srv, client.NewReaderKey(), func(p *wire.ChannelPush) {
		for _, b := range p.Posts {
			cache.Insert(b)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mirror.Close() })
	if err := mirror.Subscribe(ctx, wire.ChannelID(d.ID())); err != nil {
		t.Fatal(err)
	}
	return client.ServerLink{Key: key.Public(), Addrs: []string{ln.Addr().String()}}, cache
}

func signedPost(t *testing.T, signer ed25519.PrivateKey, cert []byte, id channel.ID, seq uint64, kind channel.Kind, target uint64, body string) []byte {
	t.Helper()
	p := &channel.Post{Channel: id, Seq: seq, Time: uint64(time.Now().UnixMilli()), Kind: kind, Target: target, Body: []byte(body)}
	if err := p.Sign(signer, cert); err != nil {
		t.Fatal(err)
	}
	return p.Encode()
}

// TestChannelEndToEnd is issue 6's proof: the owner posts; 100 subscribers
// (100 connections) receive by push; an offline subscriber catches up;
// forged and altered posts are rejected by the server and by the client;
// view counts are right; and with the server gone, a new reader reads the
// posts through a relay's cache.
func TestChannelEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := startChannelServer(t)
	_, owner, _ := ed25519.GenerateKey(nil)
	desc, err := channel.NewDescriptor(owner, "news", uint64(time.Now().Unix()))
	if err != nil {
		t.Fatal(err)
	}
	id := desc.ID()
	oc, err := client.DialChannels(ctx, nil, srv.link, client.NewReaderKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if err := oc.CreateChannel(ctx, desc.Encode()); err != nil {
		t.Fatal(err)
	}
	relayLink, cache := startRelayCache(t, ctx, srv.link, desc.Encode())
	link := client.ChannelLink{Owner: channel.KeyOf(owner), Name: "news", Server: srv.link, Relays: []client.ServerLink{relayLink}}
	parsed, err := client.ParseChannelLink(link.String())
	if err != nil || parsed.String() != link.String() {
		t.Fatalf("link round trip: %v\n%s\n%s", err, link, parsed)
	}

	const subscribers = 100
	var received atomic.Int64
	followers := make([]*client.Follower, subscribers)
	for i := range followers {
		followers[i] = client.NewFollower(parsed, client.FollowerOptions{OnPost: func(*channel.Post) { received.Add(1) }})
		if err := followers[i].Connect(ctx); err != nil {
			t.Fatalf("follower %d: %v", i, err)
		}
		defer followers[i].Close()
	}
	var offlineRejects atomic.Int64
	offline := client.NewFollower(parsed, client.FollowerOptions{OnReject: func(error) { offlineRejects.Add(1) }})

	// The owner posts five; one admin post; an edit and a delete.
	for seq := uint64(1); seq <= 5; seq++ {
		if err := oc.Post(ctx, signedPost(t, owner, nil, id, seq, channel.KindText, 0, fmt.Sprintf("post %d", seq))); err != nil {
			t.Fatalf("post %d: %v", seq, err)
		}
	}
	_, admin, _ := ed25519.GenerateKey(nil)
	cert := channel.NewAdminCert(owner, channel.KeyOf(admin), uint64(time.Now().Add(time.Hour).Unix())).Encode()
	if err := oc.Post(ctx, signedPost(t, admin, cert, id, 6, channel.KindText, 0, "by an admin")); err != nil {
		t.Fatalf("admin post: %v", err)
	}
	oc.Post(ctx, signedPost(t, owner, nil, id, 7, channel.KindEdit, 2, "post 2, corrected"))
	oc.Post(ctx, signedPost(t, owner, nil, id, 8, channel.KindDelete, 3, ""))

	// The server refuses a forged post (another key) and an altered one,
	// and a post that is not the next seq.
	var we *wire.Error
	if err := oc.Post(ctx, signedPost(t, client.NewReaderKey(), nil, id, 9, channel.KindText, 0, "forged")); !errors.As(err, &we) || we.Code != wire.CodeUnauthorized {
		t.Fatalf("server accepted a forged post: %v", err)
	}
	altered := signedPost(t, owner, nil, id, 9, channel.KindText, 0, "genuine")
	altered[len(altered)-64-32-4-1] ^= 1 // a byte of the body
	if err := oc.Post(ctx, altered); !errors.As(err, &we) || we.Code != wire.CodeUnauthorized {
		t.Fatalf("server accepted an altered post: %v", err)
	}
	if err := oc.Post(ctx, signedPost(t, owner, nil, id, 3, channel.KindText, 0, "replay")); !errors.As(err, &we) || we.Code != wire.CodeStaleEpoch || we.CurrentEpoch != 8 {
		t.Fatalf("out-of-order post: %v", err)
	}

	e2etest.Eventually(t, "100 subscribers to receive 8 posts", 20*time.Second, func() bool { return received.Load() == subscribers*8 })
	for i, f := range followers {
		if f.LastSeq() != 8 || len(f.Rejected()) != 0 {
			t.Fatalf("follower %d at seq %d, rejected %v", i, f.LastSeq(), f.Rejected())
		}
	}

	// The client rejects a forged and an altered post however they arrive.
	if err := offline.Accept(signedPost(t, client.NewReaderKey(), nil, id, 9, channel.KindText, 0, "forged")); !errors.Is(err, channel.ErrNotAdmin) {
		t.Fatalf("client accepted a forged post: %v", err)
	}
	if err := offline.Accept(altered); !errors.Is(err, channel.ErrSignature) {
		t.Fatalf("client accepted an altered post: %v", err)
	}
	if offlineRejects.Load() != 2 || len(offline.Rejected()) != 2 {
		t.Fatalf("rejections reported: %d", offlineRejects.Load())
	}

	// The offline subscriber catches up from seq 0 and reads in pages.
	if err := offline.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer offline.Close()
	if offline.LastSeq() != 8 {
		t.Fatalf("offline subscriber caught up to %d, want 8", offline.LastSeq())
	}
	page, next := offline.Read(0, 2)
	if len(page) != 2 || page[0].Text != "post 1" || page[1].Text != "post 2, corrected" || !page[1].Edited || next != 2 {
		t.Fatalf("first page: %+v next %d", page, next)
	}
	page, next = offline.Read(next, 10)
	if len(page) != 3 || page[0].Seq != 4 || page[2].Text != "by an admin" || page[2].ByOwner || next != 0 {
		t.Fatalf("second page (post 3 deleted): %+v next %d", page, next)
	}

	// Views: every subscriber views posts 1 and 2, some twice; the
	// offline one views post 1.
	for i, f := range followers {
		if err := f.Conn().RecordViews(ctx, wire.ChannelID(id), []uint64{1, 2}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			f.Conn().RecordViews(ctx, wire.ChannelID(id), []uint64{1}) // a repeat counts once
		}
	}
	offline.Conn().RecordViews(ctx, wire.ChannelID(id), []uint64{1})
	views, err := oc.ViewCounts(ctx, wire.ChannelID(id), []uint64{1, 2, 4, 99})
	if err != nil {
		t.Fatal(err)
	}
	if views[1] != subscribers+1 || views[2] != subscribers || views[4] != 0 || len(views) != 3 {
		t.Fatalf("view counts %v, want 1:%d 2:%d 4:0", views, subscribers+1, subscribers)
	}

	// The server goes away; a new reader reads through the relay's cache.
	e2etest.Eventually(t, "the relay to cache 8 posts", 20*time.Second, func() bool { return cache.LastSeq(channel.ID(id)) == 8 })
	srv.stop()
	late := client.NewFollower(parsed, client.FollowerOptions{})
	if err := late.Connect(ctx); err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := late.CatchUp(ctx); err != nil {
		t.Fatalf("catching up through the relay: %v", err)
	}
	page, _ = late.Read(0, 10)
	if late.LastSeq() != 8 || len(page) != 5 || page[1].Text != "post 2, corrected" {
		t.Fatalf("through the relay: last %d, %+v", late.LastSeq(), page)
	}
}
