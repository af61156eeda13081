//go:build !js

package e2e

import (
	"bytes"
	"os"
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
	srv, home, _ := serverAndCLIUser(t, "olga")
	out := cli(t, home, "channel", "create", "news")
	link := strings.TrimSpace(out[strings.Index(out, "samizdat://channel"):])
	posts := []string{"first post", "second <b>post</b>"}
	for _, p := range posts {
		cli(t, home, "channel", "post", "news", p)
	}
	photo := filepath.Join(t.TempDir(), "photo.png")
	pic := testPNG(t, 1200, 800)
	if err := os.WriteFile(photo, pic, 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, home, "channel", "post", "news", "--file", photo, "--caption", "a photo")
	relayURL, relay := startRelay(t, srv.link, "--mirror-channel", link, "--channel-listen", testnet.FreeAddr(t))
	mirrored := relay.WaitLines(t, 20*time.Second, `mirrored channel "news": `)[0]

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
	// A photo posted from the page (a media post, uploaded by the page's
	// client) shows in her channel.
	reader.run(10*time.Second, chromedp.SetUploadFiles("#file-input", []string{photo}))
	reader.waitImage(fileBox("photo.png"), 1200, 800)

	srv.Kill() // the server is blocked from here on
	reader.run(10*time.Second, chromedp.Click("#btn-follow"), chromedp.SetValue("#follow-link", mirrored),
		chromedp.Click("#follow-form button[type=submit]"))
	reader.waitJS(90*time.Second, "the channel to open", `document.getElementById("conv-title").textContent === "news"`)
	reader.waitPosts(posts...)
	if n := evalJS[int](reader, `document.querySelectorAll("#messages b").length`); n != 0 {
		t.Fatalf("a post became %d elements", n)
	}
	reader.waitImage(fileBox("photo.png"), 1200, 800)
	if saved := reader.save(t, fileBox("photo.png")); !bytes.Equal(saved, pic) {
		t.Fatalf("the photo saved from the mirror has %d bytes that differ from the %d posted", len(saved), len(pic))
	}
	reader.screenshot("web-channel.png")
	// Only the owner posts: the reader's attempt is refused with a reason.
	reader.send("not mine to post")
	reader.waitJS(30*time.Second, "the refusal", `/only the channel's owner/.test(document.getElementById("status").textContent)`)
}
