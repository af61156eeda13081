//go:build !js

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestLinkBrowserAsDevice: a terminal user links a browser as a new
// device of their account: the page shows the one-time code and the
// verification number, 'samizdat device approve CODE --verify NUMBER'
// approves it, and the page opens the account, which lists two devices.
func TestLinkBrowserAsDevice(t *testing.T) {
	srv := newAppServer(t)
	home := filepath.Join(t.TempDir(), "erin")
	cli(t, home, "init", "--server", srv.link, "--name", "erin")
	cli(t, home, "read") // online once: the account's device list is on the server
	b := newBrowser(t)
	b.openApp(srv.appURL)
	b.waitJS(5*time.Second, "the link form", `!document.getElementById("device-form").hidden`)
	b.run(10*time.Second, chromedp.SetValue("#device-pass", passphrase), chromedp.Click("#device-form button[type=submit]"))
	b.waitJS(90*time.Second, "the one-time code", `!document.getElementById("device-wait").hidden`)
	cmd := evalJS[string](b, `document.getElementById("device-cmd").textContent`)
	code, ok := strings.CutPrefix(cmd, "samizdat device approve ")
	if !ok || code == "" {
		t.Fatalf("the page shows %q, not the approve command", cmd)
	}
	verify := evalJS[string](b, `document.getElementById("device-verify").textContent`)
	b.screenshot("web-link-device.png")
	cli(t, home, "device", "approve", "--verify", verify, code)
	b.waitJS(120*time.Second, "the account open in the page", `!document.getElementById("app").hidden && document.getElementById("me").textContent === "erin"`)
	if out := cli(t, home, "device", "list"); len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Fatalf("the account does not list two devices (one line each) after linking the browser:\n%s", out)
	}
}
