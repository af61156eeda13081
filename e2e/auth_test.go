package e2e

import (
	"strings"
	"testing"
)

// TestVerifyAndInvitations drives member authentication through the real
// binary (docs/spec/authentication.md §5, §6): Bob verifies Alice after
// comparing safety numbers; a group Welcome from Carol, whom Bob never
// added, is an invitation that 'read' does not show as a chat until Bob
// accepts it.
func TestVerifyAndInvitations(t *testing.T) {
	dir, srv := tempServer(t)
	u := signUp(t, dir, srv.link, "alice", "bob", "carol")
	alice, bob, carol := u[0], u[1], u[2]
	befriend(t, alice, bob)
	mustContain(t, "alice send", alice.run(t, "send", "bob", "hi bob"), "Sent to bob")
	mustContain(t, "bob read", bob.run(t, "read"), "] alice: hi bob")

	aliceNumber := digits(alice.run(t, "safety", "bob", "--no-qr"))
	if aliceNumber == "" || digits(bob.run(t, "safety", "alice", "--no-qr")) != aliceNumber {
		t.Fatalf("alice and bob see different safety numbers")
	}
	mustContain(t, "bob verify", bob.run(t, "verify", "alice"), "alice is verified", aliceNumber)
	mustContain(t, "bob safety", bob.run(t, "safety", "alice", "--no-qr"), "You verified alice")

	// Carol knows Bob; Bob never added Carol.
	mustContain(t, "carol add", carol.run(t, "add", inviteLink(t, bob)), "Added bob.")
	mustContain(t, "carol group create", carol.run(t, "group", "create", "party"), "Created group party.")
	mustContain(t, "carol group add", carol.run(t, "group", "add", "party", "bob"), "Added bob")
	mustContain(t, "carol group send", carol.run(t, "group", "send", "party", "come to my party"), "Sent to party")
	out := bob.run(t, "read")
	mustContain(t, "bob read", out, "invited you")
	if strings.Contains(out, "come to my party") {
		t.Fatalf("an invitation was shown as a chat:\n%s", out)
	}
	mustContain(t, "bob invitations", bob.run(t, "invitations"), "party")
	if _, errOut, err := bob.try("group", "send", "party", "hi"); err == nil {
		t.Fatalf("bob could send to an invitation he never accepted: %s", errOut)
	}
	mustContain(t, "bob accept", bob.run(t, "invitations", "accept", "party"), "party is now a chat")
	mustContain(t, "bob read after accepting", bob.run(t, "read"), "party: ", "come to my party")
	mustContain(t, "bob invitations after", bob.run(t, "invitations"), "No invitations.")
}

// digits returns the safety number line of 'samizdat safety'.
func digits(out string) string {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if len(l) == 71 && strings.Trim(l, "0123456789 ") == "" {
			return l
		}
	}
	return ""
}
