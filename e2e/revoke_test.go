package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestRevokeDevice, with real processes over real TCP: Bob revokes his
// phone while it listens. The phone's listen stops and says what happened
// and what to do; so does every later command on it, without retrying.
// Bob's laptop removed the phone from the group: Alice and Bob go on
// talking, and the phone never gets what is sent after the revocation.
func TestRevokeDevice(t *testing.T) {
	dir, srv := tempServer(t)
	alice, bob, phone := friendsWithPhone(t, dir, srv.link)
	mustContain(t, "group create", bob.run(t, "group", "create", "crew"), "crew")
	mustContain(t, "group add", bob.run(t, "group", "add", "crew", "alice"), "Added alice")
	bob.run(t, "group", "send", "crew", "before the revocation")
	mustContain(t, "alice read", alice.run(t, "read"), "before the revocation")
	mustContain(t, "phone read", phone.run(t, "read"), "before the revocation")

	// The phone's id, as 'samizdat device list' on the phone shows it.
	var phoneID string
	for _, l := range strings.Split(phone.run(t, "device", "list"), "\n") {
		if id, ok := strings.CutSuffix(strings.TrimSpace(l), "(this device)"); ok {
			phoneID = strings.TrimSpace(id)
		}
	}
	if phoneID == "" {
		t.Fatal("the phone's device list does not mark the phone")
	}

	listen := phone.listen(t)
	mustContain(t, "device revoke", bob.run(t, "device", "revoke", phoneID),
		"Revoked device "+phoneID, "Removed it from all your chats")

	const advice = "this device was revoked from your account"
	if err := listen.Wait(t, 30*time.Second); err == nil {
		t.Fatalf("the phone's listen exited 0 after the revocation:\n%s", listen.Stderr.String())
	}
	mustContain(t, "phone listen", listen.Stderr.String(), advice, "samizdat device link")
	t.Logf("the phone's listen said:\n%s", listen.Stderr.String())

	bob.run(t, "group", "send", "crew", "after the revocation")
	mustContain(t, "alice read", alice.run(t, "read"), "bob: after the revocation")
	alice.run(t, "group", "send", "crew", "alice still talks to bob")
	mustContain(t, "bob read", bob.run(t, "read"), "alice: alice still talks to bob")

	// Every later command on the phone says the same (from its store: it
	// does not try the server again).
	out, errOut, err := phone.try("send", "alice", "am I still here?")
	if err == nil {
		t.Fatalf("the revoked phone sent: %s", out)
	}
	mustContain(t, "phone send", errOut, advice, "samizdat init")
	t.Logf("the phone's send said:\n%s", errOut)
	out, errOut, err = phone.try("read", "crew")
	if err != nil {
		t.Fatalf("the revoked phone cannot show its history: %v\n%s", err, errOut)
	}
	mustContain(t, "phone read", errOut, advice)
	mustContain(t, "phone history", out, "before the revocation")
	if strings.Contains(out, "after the revocation") || strings.Contains(out, "alice still talks") {
		t.Fatalf("the revoked phone got a message sent after its revocation:\n%s", out)
	}
}
