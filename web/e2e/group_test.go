package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// cli runs one 'samizdat' command for a CLI user's home and returns its
// stdout; a failure fails the test.
func cli(t *testing.T, home string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--home", home}, args...)...)
	cmd.Env = append(os.Environ(), "SAMIZDAT_PASSPHRASE="+passphrase, "SAMIZDAT_INSECURE_TEST_KDF=1", "SAMIZDAT_CONNECT_TIMEOUT=15s")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("samizdat %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// TestGroupWithCLIUser: a browser user and a terminal user become contacts,
// the browser user makes a group with the terminal user in it, and both
// write to it.
func TestGroupWithCLIUser(t *testing.T) {
	needApp(t)
	srv := startServer(t, filepath.Join(t.TempDir(), "server"), "127.0.0.1:0", "127.0.0.1:0")
	home := filepath.Join(t.TempDir(), "erin")
	if out := cli(t, home, "init", "--server", srv.link, "--name", "erin"); !strings.Contains(out, "Created your account") {
		t.Fatalf("init: %s", out)
	}
	erinLink, _, _ := strings.Cut(cli(t, home, "invite", "--no-qr"), "\n")
	alice := newBrowser(t)
	alice.openApp(srv.appURL)
	alice.createAccount("alice")
	cli(t, home, "add", alice.inviteLink())
	alice.addContact(erinLink, "erin")

	alice.run(10*time.Second, chromedp.Click("#btn-group"),
		chromedp.SetValue("#group-title", "friends"), chromedp.SetValue("#group-members", "erin"),
		chromedp.Click("#group-form button[type=submit]"))
	alice.waitJS(60*time.Second, "the group to open", `document.getElementById("conv-title").textContent === "friends"`)
	alice.send("hello group")
	deadline := time.Now().Add(60 * time.Second)
	for out := ""; !strings.Contains(out, "friends: alice: hello group"); out += cli(t, home, "read") {
		if time.Now().After(deadline) {
			t.Fatalf("erin never read the group message; read printed:\n%s\nchats:\n%s\ninvitations:\n%s\nall:\n%s", tail(out, 300),
				cli(t, home, "chats"), cli(t, home, "invitations"), cli(t, home, "read", "--offline", "--json"))
		}
	}
	cli(t, home, "group", "send", "friends", "erin here")
	alice.waitText("erin here")
	alice.run(10*time.Second, chromedp.Click("#btn-members"))
	alice.waitJS(30*time.Second, "the member list", `document.getElementById("member-list").textContent.includes("erin")`)
}
