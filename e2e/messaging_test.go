package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
)

// inviteLink returns the first line of 'samizdat invite --no-qr'.
func inviteLink(t testing.TB, u *user) string {
	t.Helper()
	out := u.run(t, "invite", "--no-qr")
	link, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(link, "samizdat://") {
		t.Fatalf("%s: invite printed no link:\n%s", u.name, out)
	}
	return link
}

// befriend makes a and b contacts of each other through their invite
// links; extra devices of b add a too.
func befriend(t testing.TB, a, b *user, bDevices ...*user) {
	t.Helper()
	la, lb := inviteLink(t, a), inviteLink(t, b)
	mustContain(t, a.name+" add", a.run(t, "add", lb), "Added "+b.name+".")
	for _, d := range append([]*user{b}, bDevices...) {
		mustContain(t, d.name+" add", d.run(t, "add", la), "Added "+a.name+".")
	}
}

// TestMessaging is the first proof, with real processes over real
// TCP: two users exchange messages both ways; the recipient is offline
// (no process of it runs) when a message is sent and reads it later; a
// second device of the recipient's account gets it too (and sees what its
// sibling device sent); a three-member group works.
func TestMessaging(t *testing.T) {
	dir, srv := tempServer(t)

	alice, bob, bobPhone := friendsWithPhone(t, dir, srv.link)

	// Bob has no process running: he is offline when Alice sends.
	mustContain(t, "alice send", alice.run(t, "send", "bob", "hello bob, are you there?"), "Sent to bob")
	mustContain(t, "alice send", alice.run(t, "send", "bob", "second message"), "Sent to bob")
	out := bob.run(t, "read")
	mustContain(t, "bob read", out, "] alice: hello bob, are you there?", "] alice: second message")
	if strings.Index(out, "hello bob") > strings.Index(out, "second message") {
		t.Fatalf("bob read the messages out of order:\n%s", out)
	}
	// Already shown: a second read has nothing new.
	mustContain(t, "bob read again", bob.run(t, "read"), "No new messages.")
	// The second device of Bob's account got it too.
	mustContain(t, "bob-phone read", bobPhone.run(t, "read"), "] alice: hello bob, are you there?", "] alice: second message")

	// The other way, while Alice listens.
	listen := alice.listen(t)
	mustContain(t, "bob send", bob.run(t, "send", "alice", "hi alice, got both"), "Sent to alice")
	if !e2etest.WaitFor(30*time.Second, func() bool { return strings.Contains(listen.Stdout.String(), "] bob: hi alice, got both") }) {
		t.Fatalf("alice listen never printed Bob's reply; stdout:\n%s\nstderr:\n%s", listen.Stdout.String(), listen.Stderr.String())
	}
	listen.Stop(t, 15*time.Second)
	// Bob's phone sees what Bob's laptop sent, as his own message.
	mustContain(t, "bob-phone read", bobPhone.run(t, "read"), "alice: me: hi alice, got both")
	// And the phone can write too; Alice and Bob's laptop read it.
	mustContain(t, "bob-phone send", bobPhone.run(t, "send", "alice", "from bob's phone"), "Sent to alice")
	mustContain(t, "alice read", alice.run(t, "read"), "] bob: from bob's phone")
	mustContain(t, "bob read", bob.run(t, "read"), "alice: me: from bob's phone")

	t.Run("group of three", func(t *testing.T) {
		carol := newUser(t, dir, "carol")
		mustContain(t, "carol init", carol.run(t, "init", "--server", srv.link, "--name", "carol"), "Created your account")
		mustContain(t, "carol first read", carol.run(t, "read"), "No new messages.")
		befriend(t, carol, alice)
		befriend(t, carol, bob, bobPhone)

		mustContain(t, "group create", alice.run(t, "group", "create", "friends"), "Created group friends.")
		mustContain(t, "group add bob", alice.run(t, "group", "add", "friends", "bob"), "Added bob (all their devices) to friends.")
		mustContain(t, "group add carol", alice.run(t, "group", "add", "friends", "carol"), "Added carol (all their devices) to friends.")
		mustContain(t, "group members", alice.run(t, "group", "members", "friends"), "bob", "carol", "me")
		mustContain(t, "group send", alice.run(t, "group", "send", "friends", "hello friends"), "Sent to friends")
		for _, u := range []*user{bob, bobPhone, carol} {
			mustContain(t, u.name+" read", u.run(t, "read"), "friends: alice: hello friends")
		}
		mustContain(t, "carol group send", carol.run(t, "group", "send", "friends", "carol says hi"), "Sent to friends")
		for _, u := range []*user{alice, bob, bobPhone} {
			mustContain(t, u.name+" read", u.run(t, "read"), "friends: carol: carol says hi")
		}
	})
}
