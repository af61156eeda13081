//go:build !js

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/samizdat-project/samizdat/internal/e2etest"
)

// cli runs one 'samizdat' command for a CLI user's home and returns its
// stdout; a failure fails the test.
func cli(t *testing.T, home string, args ...string) string {
	t.Helper()
	return e2etest.MustRun(t, 90*time.Second, bin, e2etest.CLIEnv(passphrase), append([]string{"--home", home}, args...)...)
}

// cliReads runs 'samizdat read' until what it printed contains every one
// of texts.
func cliReads(t *testing.T, home string, texts ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	out := ""
	for {
		out += cli(t, home, "read")
		missing := ""
		for _, x := range texts {
			if !strings.Contains(out, x) {
				missing = x
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CLI user never read %q; read printed:\n%s", missing, e2etest.Tail(strings.ReplaceAll(out, "No new messages.\n", ""), 2000))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// serverAndCLIUser starts a server with the app and makes a CLI user
// called name on it; it returns the server, the user's home and invite
// link.
func serverAndCLIUser(t *testing.T, name string) (srv *appServer, home, invite string) {
	t.Helper()
	srv = newAppServer(t)
	home = filepath.Join(t.TempDir(), name)
	if out := cli(t, home, "init", "--server", srv.link, "--name", name); !strings.Contains(out, "Created your account") {
		t.Fatalf("init: %s", out)
	}
	invite, _, _ = strings.Cut(cli(t, home, "invite", "--no-qr"), "\n")
	return srv, home, invite
}

// TestGroupWithCLIUser: two browser users and a terminal user form a
// group made in the browser. A member who never went online cannot be
// added and the page says why; once they have been online the Members
// dialog adds them; all three write and read; a member is removed.
func TestGroupWithCLIUser(t *testing.T) {
	srv, home, erinLink := serverAndCLIUser(t, "erin")
	alice, bob := newUser(t, srv.appURL, "alice"), newUser(t, srv.appURL, "bob")
	befriend(alice, "alice", bob, "bob")
	cli(t, home, "add", alice.inviteLink())
	alice.addContact(erinLink, "erin")

	// erin has only run init, invite and add, which work offline: the
	// server has no keys of hers yet.
	alice.run(10*time.Second, chromedp.Click("#btn-group"),
		chromedp.SetValue("#group-title", "friends"), chromedp.SetValue("#group-members", "bob\nerin"),
		chromedp.Click("#group-form button[type=submit]"))
	alice.waitJS(90*time.Second, "the page to say erin cannot be added yet",
		`/adding erin failed: .*never been online/.test(document.getElementById("group-error").textContent)`)
	alice.run(10*time.Second, chromedp.Click("#dlg-group button.close"))

	cli(t, home, "read") // erin goes online once: her device and keys reach the server
	alice.openChat("friends")
	alice.run(10*time.Second, chromedp.Click("#btn-members"))
	alice.waitJS(30*time.Second, "bob in the member list", `document.getElementById("member-list").textContent.includes("bob")`)
	alice.run(10*time.Second, chromedp.SetValue("#member-name", "erin"), chromedp.Click("#member-form button[type=submit]"))
	alice.waitJS(90*time.Second, "erin in the member list", `document.getElementById("member-list").textContent.includes("erin")`)
	alice.screenshot("web-group-members.png")
	alice.run(10*time.Second, chromedp.Click("#dlg-members form[method=dialog] button"))

	alice.send("hello group")
	bob.openChat("friends")
	bob.waitText("hello group")
	cliReads(t, home, "friends: alice: hello group")
	cli(t, home, "group", "send", "--wait", "friends", "erin here")
	alice.waitText("erin here")
	bob.waitText("erin here")
	bob.send("bob here")
	alice.waitText("bob here")
	cliReads(t, home, "bob here")

	// Removing bob: the member list no longer has him.
	alice.run(10*time.Second, chromedp.Click("#btn-members"))
	alice.waitJS(30*time.Second, "the member list", `document.getElementById("member-list").textContent.includes("bob")`)
	evalJS[bool](alice, `[...document.querySelectorAll("#member-list li")].find(li => li.firstChild.textContent === "bob").querySelector("button").click(), true`)
	alice.waitJS(90*time.Second, "bob removed", `!document.getElementById("member-list").textContent.includes("bob") && document.getElementById("member-list").textContent.includes("erin")`)
}
