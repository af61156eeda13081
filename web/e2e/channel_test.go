package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/samizdat-project/samizdat/internal/testnet"
)

// waitPosts waits until the open channel shows every one of texts.
func (b *browser) waitPosts(texts ...string) {
	b.t.Helper()
	for _, x := range texts {
		b.waitText(x)
	}
}

// TestBrowserChannelThroughMirror: a CLI user owns a channel; a relay
// mirrors it and serves the app. A browser that opened the app from the
// relay follows the channel by the link the relay printed while the
// server is down, and reads the posts from the relay's mirror, verified
// against the owner key in the link. Before that, with the server up, the
// browser user makes a channel of their own, posts to it and sees its
// view count; a reader cannot post to someone else's channel.
func TestBrowserChannelThroughMirror(t *testing.T) {
	srv := newAppServer(t)
	home := filepath.Join(t.TempDir(), "olga")
	cli(t, home, "init", "--server", srv.link, "--name", "olga")
	out := cli(t, home, "channel", "create", "news")
	link := strings.TrimSpace(out[strings.Index(out, "samizdat://channel"):])
	posts := []string{"first post", "second <b>post</b>"}
	for _, p := range posts {
		cli(t, home, "channel", "post", "news", p)
	}
	relayURL, relay := startRelay(t, srv.link, "--mirror-channel", link, "--channel-listen", testnet.FreeAddr(t))
	mirrored := waitLine(t, relay, `mirrored channel "news": `)

	reader := newUser(t, relayURL, "rita")

	// The reader's own channel, while the server answers: post, views.
	reader.run(10*time.Second, chromedp.Click("#btn-channel"), chromedp.SetValue("#channel-name", "ritas"),
		chromedp.Click("#channel-form button[type=submit]"))
	reader.waitJS(60*time.Second, "her channel to open", `document.getElementById("conv-title").textContent === "ritas"`)
	reader.run(10*time.Second, chromedp.Click("#btn-share"))
	reader.waitJS(30*time.Second, "her channel's link and QR code", `document.getElementById("invite-link").value.startsWith("samizdat://channel") && document.getElementById("invite-qr").naturalWidth > 0`)
	reader.run(10*time.Second, chromedp.Click("#dlg-invite form[method=dialog] button"))
	reader.send("rita posts")
	reader.waitText("rita posts")
	reader.waitJS(30*time.Second, "a view count", `[...document.querySelectorAll("#messages li.msg .meta")].some(e => /1 views/.test(e.textContent))`)

	srv.Kill() // the server is blocked from here on
	reader.run(10*time.Second, chromedp.Click("#btn-follow"), chromedp.SetValue("#follow-link", mirrored),
		chromedp.Click("#follow-form button[type=submit]"))
	reader.waitJS(90*time.Second, "the channel to open", `document.getElementById("conv-title").textContent === "news"`)
	reader.waitPosts(posts...)
	if n := evalJS[int](reader, `document.querySelectorAll("#messages b").length`); n != 0 {
		t.Fatalf("a post became %d elements", n)
	}
	reader.screenshot("web-channel.png")
	// Only the owner posts: the reader's attempt is refused with a reason.
	reader.send("not mine to post")
	reader.waitJS(30*time.Second, "the refusal", `/only the channel's owner/.test(document.getElementById("status").textContent)`)
}
