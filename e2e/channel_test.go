package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/channel/channelwire"
	"github.com/samizdat-project/samizdat/channel/channelwire/channelwiretest"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/wire"
)

// channelOwner makes a user on srv who creates the channel name, and
// returns the user and the channel's link.
func channelOwner(t *testing.T, dir string, srv *server, name string) (*user, string) {
	t.Helper()
	owner := newUser(t, dir, "owner")
	owner.run(t, "init", "--server", srv.link, "--name", "owner")
	owner.run(t, "channel", "create", name)
	link := strings.SplitN(owner.run(t, "channel", "link", name), "\n", 2)[0]
	if !strings.HasPrefix(link, "samizdat://channel?") {
		t.Fatalf("channel link prints %q", link)
	}
	return owner, link
}

// mirrorRelay starts 'samizdat relay' mirroring the channel of link
// (--mirror-channel), its state in state.
func mirrorRelay(t *testing.T, srvAddr, state, link, relayAddr, chanAddr string) *proc {
	return start(t, nil, "relay", "--upstream", srvAddr, "--transport", "direct", "--listen", relayAddr,
		"--state", state, "--no-qr", "--mirror-channel", link, "--channel-listen", chanAddr)
}

// waitMirroring waits until relay follows the channel name and returns
// the channel's link with the mirror in it, as the relay printed it.
func waitMirroring(t *testing.T, relay *proc, name string) string {
	t.Helper()
	mirrored := relay.WaitLines(t, 20*time.Second, "mirrored channel \""+name+"\": ")[0]
	if !strings.Contains(mirrored, "&relay=") {
		t.Fatalf("the mirrored channel link names no mirror: %s", mirrored)
	}
	if !e2etest.WaitFor(60*time.Second, func() bool { return strings.Contains(relay.Stderr.String(), "channel mirror: following") }) {
		t.Fatalf("the relay did not follow the channel; stderr:\n%s", relay.Stderr.String())
	}
	return mirrored
}

// channelFollower makes a user on srv who follows the channel link
// mirrored; the follow prints want.
func channelFollower(t *testing.T, dir string, srv *server, mirrored, want string) *user {
	t.Helper()
	follower := newUser(t, dir, "follower")
	follower.run(t, "init", "--server", srv.link, "--name", "follower")
	mustContain(t, "follow", follower.run(t, "channel", "follow", mirrored), want)
	return follower
}

// TestChannelMirror runs a server, a 'samizdat relay --mirror-channel'
// and CLI users, all real processes. The owner posts (two posts before the
// relay starts, two after, which reach it by push); a follower follows the
// channel through the link the relay printed. The server is killed with
// SIGKILL and 'samizdat channel read' still returns every post, verified,
// from the relay's cache. Then the relay is killed, one post is altered in
// its cache file and the relay restarted (the server still dead): the
// relay refuses the altered post and serves the others. Last, a tampering
// mirror (in this test process) serves an altered post to a reader's CLI,
// which rejects it and shows the genuine ones. Finally the server comes
// back and the relay, which kept retrying, caches the next post.
func TestChannelMirror(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), "127.0.0.1:0")
	owner, link := channelOwner(t, dir, srv, "news")
	posts := []string{
		"first post, before the mirror",
		"second post, before the mirror",
		"third post, pushed to the mirror",
		"fourth post, pushed to the mirror",
	}
	for _, p := range posts[:2] {
		owner.run(t, "channel", "post", "news", p)
	}

	state := filepath.Join(dir, "relay-state")
	relayAddr, chanAddr := freePort(t), freePort(t)
	startMirror := func() *proc { return mirrorRelay(t, srv.addr, state, link, relayAddr, chanAddr) }
	relay := startMirror()
	mirrorLink := relay.WaitLines(t, 20*time.Second, "channel mirror link: ")[0]
	mirrored := waitMirroring(t, relay, "news")
	for _, p := range posts[2:] {
		owner.run(t, "channel", "post", "news", p)
	}
	cacheFile := filepath.Join(state, "channels.cache")
	if !e2etest.WaitFor(60*time.Second, func() bool {
		b, _ := os.ReadFile(cacheFile)
		return bytes.Contains(b, []byte(posts[3]))
	}) {
		t.Fatalf("the relay's cache file never held the last post; stderr:\n%s", relay.Stderr.String())
	}

	follower := channelFollower(t, dir, srv, mirrored, `following "news": 4 posts`)

	// The server is gone: the follower reads through the relay's cache.
	srv.Kill()
	out, errOut, err := follower.try("channel", "read", "news")
	if err != nil {
		t.Fatalf("reading with the server dead: %v\nstdout:\n%s\nstderr:\n%s\nrelay stderr:\n%s", err, out, errOut, relay.Stderr.String())
	}
	mustContain(t, "read through the mirror", out, posts...)
	if strings.Contains(out, "views:") || strings.Contains(errOut, "rejected") {
		t.Fatalf("the read did not come from the mirror alone:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if !relay.Running() {
		t.Fatalf("the relay exited when the server died; stderr:\n%s", relay.Stderr.String())
	}

	// Alter the second post inside the cache file and restart the relay.
	relay.Kill()
	genuine, err := os.ReadFile(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	altered := "Second post, before the mirror"
	i := bytes.Index(genuine, []byte(posts[1]))
	if i < 0 {
		t.Fatal("the cache file does not hold the second post")
	}
	bad := bytes.Clone(genuine)
	copy(bad[i:], altered)
	if err := os.WriteFile(cacheFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	relay = startMirror()
	if got := relay.WaitLines(t, 20*time.Second, "channel mirror link: ")[0]; got != mirrorLink {
		t.Fatalf("the restarted relay has another mirror link: %s, was %s", got, mirrorLink)
	}
	if !e2etest.WaitFor(60*time.Second, func() bool {
		return strings.Contains(relay.Stderr.String(), "refused entries of the cache file that do not verify")
	}) {
		t.Fatalf("the relay did not refuse the altered post; stderr:\n%s", relay.Stderr.String())
	}
	out = follower.run(t, "channel", "read", "news")
	mustContain(t, "read after the restart", out, posts[0], posts[2], posts[3])
	if strings.Contains(out, posts[1]) || strings.Contains(out, altered) {
		t.Fatalf("the relay served the altered post:\n%s", out)
	}

	// A mirror that alters posts as it serves them: the client rejects them.
	cache := channel.NewCache(1000, 1)
	if refused, why, err := cache.Load(genuine, nil); err != nil || refused != 0 {
		t.Fatalf("loading the genuine cache file: refused %d (%v), %v", refused, why, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	key, addr := channelwiretest.ServeFunc(t, ctx, func(m wire.Message) wire.Message {
		resp := channelwire.Answer(cache, m)
		if cp, ok := resp.(*wire.ChannelPosts); ok {
			out := *cp
			out.Posts = nil
			for _, p := range cp.Posts {
				p = bytes.Clone(p)
				if j := bytes.Index(p, []byte(posts[1])); j >= 0 {
					copy(p[j:], altered)
				}
				out.Posts = append(out.Posts, p)
			}
			return &out
		}
		return resp
	})
	tamper := client.ServerLink{Key: key, Addrs: []string{addr}}.String()

	reader := newUser(t, dir, "reader")
	reader.run(t, "init", "--server", srv.link, "--name", "reader")
	reader.run(t, "channel", "follow", link, "--mirror", tamper)
	out, errOut, err = reader.try("channel", "read", "news")
	if err != nil {
		t.Fatalf("reading through the tampering mirror: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	mustContain(t, "reader's warning", errOut, "rejected a post")
	mustContain(t, "reader's posts", out, posts[0], posts[2], posts[3])
	if strings.Contains(out, altered) || strings.Contains(out, posts[1]) {
		t.Fatalf("the client showed the altered post:\n%s", out)
	}

	// The server comes back: the relay, which has kept retrying in the
	// background, follows the channel again and caches the next post.
	srv = srv.restart(t)
	fifth := "fifth post, after the server came back"
	owner.run(t, "channel", "post", "news", fifth)
	if !e2etest.WaitFor(120*time.Second, func() bool {
		b, _ := os.ReadFile(cacheFile)
		return bytes.Contains(b, []byte(fifth))
	}) {
		t.Fatalf("the relay did not follow the channel again once the server was back; stderr:\n%s", relay.Stderr.String())
	}
	srv.Kill()
	mustContain(t, "read after the second outage", follower.run(t, "channel", "read", "news"), posts[0], posts[3], fifth)
}
