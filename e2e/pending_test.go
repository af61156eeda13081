package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestPendingContact: a person who writes first, whom the reader has not
// added, shows as a pending contact the reader can answer.
func TestPendingContact(t *testing.T) {
	dir, srv := tempServer(t)
	u := signUp(t, dir, srv.link, "alice", "bob")
	alice, bob := u[0], u[1]
	bob.run(t, "add", inviteLink(t, alice)) // only Bob adds
	mustContain(t, "bob send", bob.run(t, "send", "alice", "hello, it is bob"), "Sent to alice")
	mustContain(t, "alice read", alice.run(t, "read"), "hello, it is bob")
	out := alice.run(t, "contacts")
	m := regexp.MustCompile(`(?m)^(unknown-\S+)\s+pending`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no pending contact:\n%s", out)
	}
	mustContain(t, "alice answers", alice.run(t, "send", m[1], "hi, who is this?"), "Sent to "+m[1])
	mustContain(t, "bob read", bob.run(t, "read"), "] alice: hi, who is this?")
	// Once added, the pending contact has a name and the same chat.
	alice.run(t, "add", inviteLink(t, bob))
	out = alice.run(t, "contacts")
	if strings.Contains(out, "pending") {
		t.Errorf("still pending after add:\n%s", out)
	}
	mustContain(t, "history under the name", alice.run(t, "read", "--offline", "bob"), "hello, it is bob", "hi, who is this?")
}
