//go:build !js

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// openApp loads the app and waits for the client to be ready.
func (b *browser) openApp(url string) {
	b.t.Helper()
	b.run(30*time.Second, chromedp.Navigate(url))
	b.waitJS(90*time.Second, "the app to load", `!document.getElementById("welcome").hidden`)
	b.lightKDF()
}

// lightKDF makes the page derive store keys with the cheap test KDF (the
// CLI tests' SAMIZDAT_INSECURE_TEST_KDF): Argon2id in WebAssembly on a
// loaded 2-core machine would dominate every test.
func (b *browser) lightKDF() {
	b.t.Helper()
	evalJS[bool](b, `globalThis.samizdatTestLightKDF = true`)
}

// createAccount fills the create form; the server link comes from the URL.
func (b *browser) createAccount(name string) {
	b.t.Helper()
	b.waitJS(5*time.Second, "the create form", `!document.getElementById("create-form").hidden`)
	b.run(10*time.Second,
		chromedp.SetValue("#create-name", name),
		chromedp.SetValue("#create-pass", passphrase),
		chromedp.Click("#create-form button[type=submit]"))
	b.waitJS(120*time.Second, "the chat list", `!document.getElementById("app").hidden`)
	b.waitJS(60*time.Second, "a connection", `document.body.dataset.status === "connected"`)
}

// openAccount types pass into the open form and submits it.
func (b *browser) openAccount(pass string) {
	b.t.Helper()
	b.waitJS(10*time.Second, "the open form", `!document.getElementById("open-form").hidden`)
	b.run(10*time.Second, chromedp.SetValue("#open-pass", pass), chromedp.Click("#open-form button[type=submit]"))
}

func (b *browser) inviteLink() string {
	b.t.Helper()
	b.run(10*time.Second, chromedp.Click("#btn-invite"))
	b.waitJS(30*time.Second, "the invite QR", `document.getElementById("invite-qr").complete && document.getElementById("invite-qr").naturalWidth > 0`)
	link := evalJS[string](b, `document.getElementById("invite-link").value`)
	b.screenshot("web-invite.png")
	b.run(10*time.Second, chromedp.Click("#dlg-invite form[method=dialog] button"))
	return link
}

func (b *browser) addContact(link, name string) {
	b.t.Helper()
	b.run(10*time.Second, chromedp.Click("#btn-add"),
		chromedp.SetValue("#add-link", link), chromedp.SetValue("#add-name", name),
		chromedp.Click("#add-form button[type=submit]"))
	b.waitJS(60*time.Second, "the new chat to open", `!document.getElementById("dlg-add").open && document.getElementById("conv-title").textContent === `+js(name))
}

// newUser is a fresh browser with an account called name, made in the
// app at url.
func newUser(t testing.TB, url, name string) *browser {
	t.Helper()
	b := newBrowser(t)
	b.openApp(url)
	b.createAccount(name)
	return b
}

// befriend makes x and y contacts of each other, as in the CLI
// (e2e.befriend): each adds the other's invite under the other's name.
func befriend(x *browser, xName string, y *browser, yName string) {
	x.t.Helper()
	y.addContact(x.inviteLink(), xName)
	x.addContact(y.inviteLink(), yName)
}

// firstExchange makes x and y contacts and sees a message go each way: y
// writes fromY, x opens the chat with y, reads it and answers fromX, which y
// reads.
func firstExchange(x *browser, xName string, y *browser, yName, fromY, fromX string) {
	x.t.Helper()
	befriend(x, xName, y, yName)
	y.send(fromY)
	x.openChat(yName)
	x.waitText(fromY)
	x.send(fromX)
	y.waitText(fromX)
}

// openChat clicks the chat titled title once it shows in the list.
func (b *browser) openChat(title string) {
	b.t.Helper()
	if evalJS[bool](b, `document.getElementById("conv-title").textContent === `+js(title)) {
		return // open already
	}
	sel := `[...document.querySelectorAll("#chats li")].find(li => li.querySelector(".title").textContent === ` + js(title) + `)`
	b.waitJS(60*time.Second, "chat "+title, `!!`+sel)
	evalJS[bool](b, `(`+sel+`).click(), true`)
	b.waitJS(10*time.Second, "chat "+title+" open", `document.getElementById("conv-title").textContent === `+js(title))
}

// send types text and presses Enter.
func (b *browser) send(text string) {
	b.t.Helper()
	b.run(10*time.Second, chromedp.SetValue("#text", text), chromedp.SendKeys("#text", kb.Enter))
}

// texts returns the message texts shown in the open conversation.
func (b *browser) texts() []string {
	return evalJS[[]string](b, `[...document.querySelectorAll("#messages li.msg .text")].map(e => e.textContent)`)
}

func (b *browser) waitText(text string) {
	b.t.Helper()
	b.waitJS(60*time.Second, fmt.Sprintf("message %.40q", text),
		`[...document.querySelectorAll("#messages li.msg .text")].some(e => e.textContent === `+js(text)+`)`)
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// TestBrowsersChat: two browsers make contact from an invite and chat both
// ways; the app shows the hash the server printed; a reload keeps keys and
// history behind the passphrase; a wrong passphrase is refused; a hostile
// message stays text; a message sent while the server is down goes out
// once it is back, exactly once.
func TestBrowsersChat(t *testing.T) {
	srv := newAppServer(t)
	alice, bob := newUser(t, srv.appURL, "alice"), newUser(t, srv.appURL, "bob")
	if got := evalJS[string](alice, `document.body.dataset.bundle`); got != srv.sha || got == "" {
		t.Fatalf("the app shows bundle hash %q, the server printed %q", got, srv.sha)
	}
	firstExchange(alice, "alice", bob, "bob", "hello from bob", "hello from alice")
	// ✓ the server has it (as in the terminal app); ✓✓ once a recipient's device acknowledged it.
	bob.waitJS(60*time.Second, "bob's message accepted by the server", `[...document.querySelectorAll("#messages li.msg.mine")].some(li => li.dataset.state === "sent" || li.dataset.state === "delivered")`)
	alice.screenshot("web-conversation.png")

	t.Run("hostile", func(t *testing.T) { hostile(t, alice, bob) })
	t.Run("reload", func(t *testing.T) { reload(t, alice) })
	t.Run("drop", func(t *testing.T) { drop(t, srv, alice, bob) })
}

// damaged (run by TestPhoneLayout): records of the browser's store no longer open under the store
// key (bit rot, a tampering extension): the page says the saved account is
// damaged and what to do; it neither crashes nor calls it a wrong
// passphrase.
func damaged(t *testing.T, alice *browser) {
	alice.t = t
	defer func() { alice.t = t }()
	alice.run(30*time.Second, chromedp.Reload())
	alice.waitJS(90*time.Second, "the app to load", `!document.getElementById("welcome").hidden`)
	alice.lightKDF()
	n := evalJS[int](alice, `new Promise((resolve, reject) => {
		const req = indexedDB.open("samizdat:browser");
		req.onerror = () => reject(req.error);
		req.onsuccess = () => {
			const tx = req.result.transaction("records", "readwrite");
			const st = tx.objectStore("records");
			const junk = new TextEncoder().encode(JSON.stringify(btoa("x".repeat(80))));
			let n = 0;
			st.getAllKeys().onsuccess = (ev) => {
				for (const k of ev.target.result) if (String(k).startsWith("kv/")) { st.put(junk, k); n++; }
			};
			tx.oncomplete = () => resolve(n);
			tx.onerror = () => reject(tx.error);
		};
	})`)
	if n == 0 {
		t.Fatal("the browser's store has no kv records to damage")
	}
	alice.openAccount(passphrase)
	alice.waitJS(120*time.Second, "the page to say the store is damaged", `/saved in this browser is damaged.*link this browser again/.test(document.getElementById("open-error").textContent)`)
	if evalJS[bool](alice, `!document.getElementById("app").hidden || /wrong passphrase/.test(document.getElementById("open-error").textContent)`) {
		t.Fatal("a damaged store opened or was called a wrong passphrase")
	}
	alice.screenshot("web-damaged.png")
}

func hostile(t *testing.T, alice, bob *browser) {
	alice.t, bob.t = t, t
	texts := []string{
		`<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b>`,
		"\u202eevil\u202c \u2066isolated\u2069 bidi",
		strings.Repeat("long text ", 20000),
	}
	for _, x := range texts {
		alice.send(x)
		bob.waitText(x)
	}
	for _, b := range []*browser{alice, bob} {
		if evalJS[bool](b, `window.pwned !== undefined`) {
			t.Fatal("a message ran script")
		}
		if n := evalJS[int](b, `document.querySelectorAll("#messages img, #messages script, #messages b").length`); n != 0 {
			t.Fatalf("messages became %d elements", n)
		}
	}
	// The CSP itself: an inline script put into the page does not run.
	evalJS[bool](bob, `(() => { const s = document.createElement("script"); s.textContent = "window.inline = 1"; document.body.append(s); return true })()`)
	if evalJS[bool](bob, `window.inline !== undefined`) {
		t.Fatal("an inline script ran despite the CSP")
	}
	bob.screenshot("web-chats.png")
}

func reload(t *testing.T, alice *browser) {
	alice.t = t
	alice.run(30*time.Second, chromedp.Reload())
	alice.waitJS(90*time.Second, "the app to load", `!document.getElementById("welcome").hidden`)
	alice.lightKDF()
	alice.openAccount("not the passphrase")
	alice.waitJS(120*time.Second, "the wrong passphrase refused", `/wrong passphrase/.test(document.getElementById("open-error").textContent)`)
	alice.openAccount(passphrase)
	alice.waitJS(120*time.Second, "the chat list", `!document.getElementById("app").hidden`)
	alice.openChat("bob")
	alice.waitText("hello from bob")
	alice.waitText("hello from alice")
}

func drop(t *testing.T, srv *appServer, alice, bob *browser) {
	alice.t, bob.t = t, t
	srv.Kill()
	alice.waitJS(60*time.Second, "the app to notice", `document.body.dataset.status !== "connected"`)
	const text = "sent while the server was down"
	alice.send(text)
	// The server stays down until the page shows the message as queued
	// (waitJS fails the test if it never does).
	alice.waitJS(30*time.Second, "the message shown as queued", `[...document.querySelectorAll("#messages li.msg.mine")].some(li => li.dataset.state === "queued" && li.textContent.includes("sent while the server was down"))`)
	srv.restart(t)
	bob.waitText(text)
	alice.waitJS(120*time.Second, "the queued message delivered", `[...document.querySelectorAll("#messages li.msg.mine")].every(li => li.dataset.state !== "queued")`)
	time.Sleep(2 * time.Second) // room for a duplicate to arrive
	if n := count(bob.texts(), text); n != 1 {
		t.Fatalf("bob got the queued message %d times", n)
	}
}
