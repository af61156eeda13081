//go:build !js

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/samizdat-project/samizdat/client"
)

// Benchmarks of the browser app for docs/benchmarks.md (not run in CI):
//
//	cd web/e2e && go test -run '^$' -bench . -benchtime 5x
//
// BenchmarkOpenCold: a fresh browser profile opens the app URL and
// creates an account with the real Argon2id, until the chat list shows.
// BenchmarkOpenWarm: the same profile reloads (the module revalidated,
// 304) and opens the account with the passphrase. BenchmarkRoundTrip: a
// message and its reply between two browsers, beside the same between two
// native Go clients (what the CLI runs) on the same server in the same run.

func BenchmarkOpenCold(b *testing.B) {
	srv := newAppServer(b)
	var ready, list time.Duration
	for i := 0; b.Loop(); i++ {
		u := newBrowser(b)
		start := time.Now()
		u.run(30*time.Second, chromedp.Navigate(srv.appURL))
		u.waitJS(90*time.Second, "the app to load", `!document.getElementById("welcome").hidden`)
		ready += time.Since(start)
		u.run(10*time.Second,
			chromedp.SetValue("#create-name", fmt.Sprintf("cold%d", i)),
			chromedp.SetValue("#create-pass", passphrase),
			chromedp.Click("#create-form button[type=submit]"))
		u.waitJS(120*time.Second, "the chat list", `!document.getElementById("app").hidden`)
		list += time.Since(start)
		u.waitJS(60*time.Second, "a connection", `document.body.dataset.status === "connected"`)
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ms-to-form/op")
	b.ReportMetric(float64(list.Milliseconds())/float64(b.N), "ms-to-list/op")
}

func BenchmarkOpenWarm(b *testing.B) {
	srv := newAppServer(b)
	u := newBrowser(b)
	u.openApp(srv.appURL)
	evalJS[bool](u, `globalThis.samizdatTestLightKDF = false`) // the real Argon2id
	u.createAccount("warm")
	var ready, list time.Duration
	for b.Loop() {
		start := time.Now()
		u.run(30*time.Second, chromedp.Reload())
		u.waitJS(90*time.Second, "the app to load", `!document.getElementById("welcome").hidden`)
		ready += time.Since(start)
		u.openAccount(passphrase)
		u.waitJS(120*time.Second, "the chat list", `!document.getElementById("app").hidden`)
		list += time.Since(start)
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ms-to-form/op")
	b.ReportMetric(float64(list.Milliseconds())/float64(b.N), "ms-to-list/op")
}

// awaitText waits inside the page (polling every 5 ms, not through
// DevTools) until the open conversation shows text.
func (b *browser) awaitText(text string) {
	b.t.Helper()
	evalJS[bool](b, `new Promise((resolve) => { const f = () => [...document.querySelectorAll("#messages li.msg .text")].some(e => e.textContent === `+js(text)+`) ? resolve(true) : setTimeout(f, 5); f(); })`)
}

func BenchmarkRoundTrip(b *testing.B) {
	srv := newAppServer(b)
	b.Run("browser", func(b *testing.B) {
		alice, bob := newUser(b, srv.appURL, "alice"), newUser(b, srv.appURL, "bob")
		befriend(alice, "alice", bob, "bob")
		bob.send("warm-up")
		alice.openChat("bob")
		alice.awaitText("warm-up")
		for i := 0; b.Loop(); i++ {
			alice.send(fmt.Sprintf("ping %d", i))
			bob.awaitText(fmt.Sprintf("ping %d", i))
			bob.send(fmt.Sprintf("pong %d", i))
			alice.awaitText(fmt.Sprintf("pong %d", i))
		}
	})
	b.Run("native", func(b *testing.B) {
		link, err := client.ParseServerLink(srv.link)
		if err != nil {
			b.Fatal(err)
		}
		alice, aliceIn := nativeUser(b, link, "alice")
		bob, bobIn := nativeUser(b, link, "bob")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if _, err := alice.AddContact(ctx, bob.Invite(), "bob"); err != nil {
			b.Fatal(err)
		}
		if _, err := bob.AddContact(ctx, alice.Invite(), "alice"); err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			if err := alice.Send(ctx, "bob", fmt.Sprintf("ping %d", i)); err != nil {
				b.Fatal(err)
			}
			awaitNative(b, bobIn, fmt.Sprintf("ping %d", i))
			if err := bob.Send(ctx, "alice", fmt.Sprintf("pong %d", i)); err != nil {
				b.Fatal(err)
			}
			awaitNative(b, aliceIn, fmt.Sprintf("pong %d", i))
		}
	})
}

// nativeUser is a Go client over TCP (as the CLI's), with the test KDF;
// texts it receives arrive on the returned channel.
func nativeUser(b *testing.B, link client.ServerLink, name string) (*client.Client, <-chan string) {
	in := make(chan string, 64)
	kdf := client.LightKDF
	c, err := client.Init(client.InitOptions{Server: link, Name: name, Options: client.Options{
		Home: filepath.Join(b.TempDir(), name), Passphrase: []byte(passphrase), KDF: &kdf,
		OnMessage: func(m client.Message) {
			if !m.Out && m.Kind == client.MessageText {
				in <- m.Text
			}
		}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	c.Start(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitOnline(ctx); err != nil {
		b.Fatal(err)
	}
	return c, in
}

func awaitNative(b *testing.B, in <-chan string, text string) {
	timeout := time.After(60 * time.Second)
	for {
		select {
		case got := <-in:
			if got == text {
				return
			}
		case <-timeout:
			b.Fatalf("never received %q", text)
		}
	}
}
