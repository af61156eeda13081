//go:build !js

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
)

// startRelay runs 'samizdat relay --app' in front of the server and
// returns the app URL it prints.
func startRelay(t *testing.T, upstream string, extra ...string) (string, *proc) {
	t.Helper()
	args := append([]string{"relay", "--transport", "direct", "--listen", testnet.FreeAddr(t), "--no-qr",
		"--state", filepath.Join(t.TempDir(), "relay"), "--upstream", upstream, "--app", "127.0.0.1:0"}, extra...)
	p := start(t, nil, args...)
	return p.WaitLines(t, 20*time.Second, "app: ")[0], p
}

// TestBrowserThroughRelay: a browser that loads the app from a relay
// talks to one that loads it from the server; the relay's streams reach
// the server as a tunnel's do, and the relay serves the same bundle.
func TestBrowserThroughRelay(t *testing.T) {
	srv := newAppServer(t)
	relayURL, _ := startRelay(t, srv.link)
	if !strings.Contains(relayURL, "#server?") {
		t.Fatalf("the relay's app URL %q does not carry the server link", relayURL)
	}
	carol, dave := newUser(t, relayURL, "carol"), newUser(t, srv.appURL, "dave")
	if got := evalJS[string](carol, `document.body.dataset.bundle`); got != srv.sha {
		t.Fatalf("the relay's app has hash %s, the server's %s", got, srv.sha)
	}
	firstExchange(dave, "dave", carol, "carol", "through the relay", "back to the relay")

	// Desktop notifications: with permission granted and the page in the
	// background, a message arriving shows one (Notification is recorded
	// by a stand-in: headless Chromium has no desktop to show it on).
	evalJS[bool](carol, `(() => {
		window.notified = [];
		window.Notification = class { static permission = "granted"; constructor(title, o) { window.notified.push(title + ": " + o.body); } };
		Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
		return true;
	})()`)
	dave.send("while carol looks elsewhere")
	carol.waitJS(60*time.Second, "a notification", `window.notified.includes("dave: while carol looks elsewhere")`)
	time.Sleep(time.Second) // room for a second one
	if n := evalJS[int](carol, `window.notified.filter(x => x === "dave: while carol looks elsewhere").length`); n != 1 {
		t.Fatalf("%d notifications for one message", n)
	}
}
