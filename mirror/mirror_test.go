package mirror_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/mirror"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/wire"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// background runs run in a goroutine; the returned stop cancels its
// context and waits for it to return (a second call does nothing).
func background(run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// startServer runs a real server with configure's changes to its
// configuration (nil: none); the returned stop ends it (it also ends when
// the test does).
func startServer(t *testing.T, configure func(*server.Config)) (client.ServerLink, func()) {
	t.Helper()
	s := servertest.Start(t, configure)
	return client.ServerLink{Key: s.Link.Key, Addrs: s.Link.Addrs}, s.Stop
}

// startMirror runs a Mirror on 127.0.0.1; stop ends it and waits for Run.
func startMirror(t *testing.T, cfg mirror.Config) (client.ServerLink, *mirror.Mirror, func()) {
	t.Helper()
	key, _ := securechan.GenerateServerKey(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log = quiet
	m := mirror.New(cfg)
	stop := background(func(ctx context.Context) error { return m.Run(ctx, ln, key) })
	t.Cleanup(stop)
	return client.ServerLink{Key: key.Public(), Addrs: []string{ln.Addr().String()}}, m, stop
}

func post(t *testing.T, owner ed25519.PrivateKey, id channel.ID, seq uint64) []byte {
	t.Helper()
	p := &channel.Post{Channel: id, Seq: seq, Time: uint64(time.Now().UnixMilli()), Kind: channel.KindText, Body: fmt.Appendf(nil, "post %d", seq)}
	if err := p.Sign(owner, nil); err != nil {
		t.Fatal(err)
	}
	return p.Encode()
}

// channelOn creates a channel on the server and posts n posts to it.
func channelOn(t *testing.T, ctx context.Context, srv client.ServerLink, n uint64) (client.ChannelLink, ed25519.PrivateKey, *client.ChannelConn) {
	t.Helper()
	_, owner, _ := ed25519.GenerateKey(nil)
	desc, err := channel.NewDescriptor(owner, "news", uint64(time.Now().Unix()))
	if err != nil {
		t.Fatal(err)
	}
	oc, err := client.DialChannels(ctx, nil, srv, client.NewReaderKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { oc.Close() })
	if err := oc.CreateChannel(ctx, desc.Encode()); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= n; seq++ {
		if err := oc.Post(ctx, post(t, owner, desc.ID(), seq)); err != nil {
			t.Fatal(err)
		}
	}
	return client.ChannelLink{Owner: channel.KeyOf(owner), Name: "news", Server: srv}, owner, oc
}

// fetchAll reads a channel's posts from a mirror (or server) at link.
func fetchAll(t *testing.T, ctx context.Context, at client.ServerLink, id wire.ChannelID) [][]byte {
	t.Helper()
	c, err := client.DialChannels(ctx, nil, at, client.NewReaderKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	posts, _, err := c.Fetch(ctx, id, 0, wire.MaxChannelBatch)
	if err != nil {
		t.Fatal(err)
	}
	return posts
}

// fixture is a server with one channel of n posts and a mirror of it that
// caught up (its cache file in a temporary directory).
type fixture struct {
	link                   client.ChannelLink
	owner                  ed25519.PrivateKey
	oc                     *client.ChannelConn
	cfg                    mirror.Config
	at                     client.ServerLink
	m                      *mirror.Mirror
	stopServer, stopMirror func()
}

func mirrored(t *testing.T, ctx context.Context, n uint64, perChannel int) *fixture {
	t.Helper()
	f := &fixture{}
	var srv client.ServerLink
	srv, f.stopServer = startServer(t, nil)
	f.link, f.owner, f.oc = channelOn(t, ctx, srv, n)
	f.cfg = mirror.Config{Links: []client.ChannelLink{f.link}, PerChannel: perChannel, CachePath: filepath.Join(t.TempDir(), "channels.cache")}
	f.at, f.m, f.stopMirror = startMirror(t, f.cfg)
	id := channel.ID(f.link.ID())
	e2etest.Eventually(t, fmt.Sprintf("the mirror to catch up to seq %d", n), 20*time.Second, func() bool { return f.m.Cache().LastSeq(id) == n })
	return f
}

// TestMirrorServesWhileServerIsGone: the mirror catches up on posts made
// before it started, takes pushed ones, keeps only PerChannel, serves them
// over channelwire once the server is gone, and a restarted mirror serves
// them from its cache file with the server still gone.
func TestMirrorServesWhileServerIsGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := mirrored(t, ctx, 7, 5)
	owner, oc, id, cfg, path, at, m := f.owner, f.oc, f.link.ID(), f.cfg, f.cfg.CachePath, f.at, f.m
	stopServer, stopMirror := f.stopServer, f.stopMirror
	for seq := uint64(8); seq <= 9; seq++ {
		if err := oc.Post(ctx, post(t, owner, channel.ID(id), seq)); err != nil {
			t.Fatal(err)
		}
	}
	e2etest.Eventually(t, "the pushed posts 8 and 9", 20*time.Second, func() bool { return m.Cache().LastSeq(channel.ID(id)) == 9 })
	stopServer()

	want := fetchAll(t, ctx, at, id)
	if len(want) != 5 {
		t.Fatalf("the mirror serves %d posts, want the last 5", len(want))
	}
	for i, b := range want {
		if _, seq, _ := channel.PeekSeq(b); seq != uint64(5+i) {
			t.Fatalf("post %d has seq %d, want %d", i, seq, 5+i)
		}
	}
	stopMirror()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the mirror saved no cache file: %v", err)
	}

	at2, _, _ := startMirror(t, cfg)
	got := fetchAll(t, ctx, at2, id)
	if len(got) != len(want) {
		t.Fatalf("restarted mirror serves %d posts, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("restarted mirror's post %d differs", i)
		}
	}
}

// TestAdversaryMirrorCacheFileTampered: someone with the relay's disk
// alters a post in the cache file; the restarted mirror refuses it and
// serves only the posts that still verify.
func TestAdversaryMirrorCacheFileTampered(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := mirrored(t, ctx, 3, 10)
	id, cfg, path := f.link.ID(), f.cfg, f.cfg.CachePath
	f.stopMirror()
	f.stopServer()

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("post 3")
	i := bytes.LastIndex(b, body)
	if i < 0 {
		t.Fatal("post 3's body is not in the cache file")
	}
	b[i+len(body)-1] = '4' // "post 4": the owner never signed that
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	at, m2, _ := startMirror(t, cfg)
	if n := m2.Cache().LastSeq(channel.ID(id)); n != 2 {
		t.Fatalf("the tampered cache loaded up to seq %d, want 2", n)
	}
	for _, p := range fetchAll(t, ctx, at, id) {
		if bytes.Contains(p, []byte("post 4")) {
			t.Fatal("the mirror serves the altered post")
		}
	}
}

// TestParseLinksDropsRepeatsAndRefusesJunk: a repeated link is mirrored
// once; text that is not a channel link is an error.
func TestParseLinksDropsRepeatsAndRefusesJunk(t *testing.T) {
	_, owner, _ := ed25519.GenerateKey(nil)
	key, _ := securechan.GenerateServerKey(nil)
	l := client.ChannelLink{Owner: channel.KeyOf(owner), Name: "news", Server: client.ServerLink{Key: key.Public(), Addrs: []string{"127.0.0.1:1"}}}
	links, err := mirror.ParseLinks([]string{l.String(), l.String()})
	if err != nil || len(links) != 1 || links[0].ID() != l.ID() {
		t.Fatalf("ParseLinks(twice) = %v, %v", links, err)
	}
	if _, err := mirror.ParseLinks([]string{"samizdat://channel?owner=junk"}); err == nil {
		t.Fatal("ParseLinks accepted junk")
	}
}
