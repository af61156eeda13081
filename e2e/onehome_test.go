package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestOneHomeTwoProcesses is the README's own use: Alice keeps `listen`
// running while she types `read` and `send` beside it. Every message Bob
// sends is acknowledged by the server; each must show in Alice's history
// exactly once, and her own sends must reach Bob, whatever the two
// processes on her home do to each other.
func TestOneHomeTwoProcesses(t *testing.T) {
	dir, srv := tempServer(t)
	alice, bob := twoFriends(t, dir, srv.link)

	listen := alice.listen(t)
	// A second listen on the same home says what to do, and leaves the
	// first one running.
	second := start(t, cliEnv, "--home", alice.home, "listen")
	if err := second.Wait(t, 20*time.Second); err == nil || !strings.Contains(second.Stderr.String(), "already runs") {
		t.Fatalf("a second listen: %v\n%s", err, second.Stderr.String())
	}
	if !listen.Running() {
		t.Fatal("the second listen stopped the first")
	}
	const n = 6
	for i := range n {
		bob.run(t, "send", "alice", fmt.Sprintf("bob-%d", i))
		// Alice works beside her listen: reads, and writes back.
		if _, errOut, err := alice.try("read"); err != nil {
			t.Fatalf("alice read beside listen: %v\n%s", err, errOut)
		}
		if out, errOut, err := alice.try("send", "bob", fmt.Sprintf("alice-%d", i)); err != nil {
			t.Fatalf("alice send beside listen: %v\n%s%s", err, out, errOut)
		}
	}
	// Everything Bob sent is in Alice's history exactly once.
	time.Sleep(2 * time.Second)
	listen.Stop(t, 15*time.Second)
	hist := alice.run(t, "read", "--offline", "bob")
	for i := range n {
		if c := strings.Count(hist, fmt.Sprintf("bob-%d\n", i)); c != 1 {
			t.Errorf("bob-%d shows %d times in alice's history:\n%s\nlisten stderr:\n%s", i, c, hist, listen.Stderr.String())
		}
	}
	bh := bob.run(t, "read", "alice")
	for _, h := range []string{hist, bh} {
		if strings.Contains(h, "could not be read") {
			t.Errorf("a message was skipped:\n%s", h)
		}
	}
	for i := range n {
		if c := strings.Count(bh, fmt.Sprintf("alice-%d\n", i)); c != 1 {
			t.Errorf("alice-%d shows %d times in bob's history:\n%s", i, c, bh)
		}
	}
}
