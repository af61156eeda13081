package adversary

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// TestAdversaryForgedCredentialInWelcome is issue #10's "Alice's account,
// Mallory's device" chat: Mallory makes a group whose only other member
// says it is Alice, and invites Bob. Bob must refuse the Welcome with a
// warning, never show a chat with "alice" from it, and his next message
// to alice must reach the real Alice and not Mallory.
func TestAdversaryForgedCredentialInWelcome(t *testing.T) {
	srv, alice, bob := aliceAndBob(t)
	mallory := NewMember(t, srv.Link, nil)

	kps, ids := mallory.ClaimAll(bob.AccountKey())
	g := mallory.NewGroup(mallory.Identity(mallory.Forged(alice.AccountKey())), kps, ids)
	mallory.SendApp(g, ids, map[string]any{"type": "text", "text": "hi bob, it's alice", "sent": time.Now().UnixMilli()})

	waitMessage(t, bob, "a warning that someone impersonates alice", warning("impersonating alice"))
	noMessage(t, bob, 300*time.Millisecond, "Mallory's text as alice's", text("alice", "hi bob, it's alice"))

	if err := sendText(t, bob, "alice", "for alice only"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, alice, "bob's message", text("bob", "for alice only"))
	if gotGroup(mallory, sha256.Sum256(g.GroupID())) && len(mallory.Delivered()) > 0 {
		for _, d := range mallory.Delivered() {
			if d.Kind == wire.KindApplication {
				t.Fatalf("Mallory received a message of bob in her forged chat")
			}
		}
	}
}

// TestAdversaryForgedCredentialInAdd: a member of a group adds a device
// whose credential claims Alice's account. Bob refuses the commit, shows a
// warning, and never shows "alice joined".
func TestAdversaryForgedCredentialInAdd(t *testing.T) {
	srv, alice, bob, mallory, g, ids := malloryGroupWithBob(t)
	mallory.SendApp(g, ids, map[string]any{"type": "text", "text": "welcome", "sent": time.Now().UnixMilli()})
	waitMessage(t, bob, "mallory's text", text("mallory", "welcome"))

	// A second device of Mallory's, whose credential says it is Alice's.
	fake := NewMember(t, srv.Link, nil)
	kp, err := fake.Identity(fake.Forged(alice.AccountKey())).NewKeyPackage(mls.Config{}, mls.KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	epoch := g.Epoch()
	res, err := g.Commit(mls.CommitOptions{AddKeyPackages: [][]byte{kp.Message}})
	if err != nil {
		t.Fatal(err)
	}
	mallory.Send(wire.KindCommit, g.GroupID(), epoch, ids, res.Commit)

	waitMessage(t, bob, "a warning about the forged Add", warning("impersonating alice"))
	noMessage(t, bob, 300*time.Millisecond, "alice joining", func(m client.Message) bool { return strings.Contains(m.Text, "alice joined") })
}

// TestAdversaryKeyPackageSubstitution: the server's KeyPackage directory
// answers Alice's claim for Bob's device with Mallory's KeyPackage that
// claims Bob's account. Alice must not add it, must see a warning, and
// Mallory must get no Welcome.
func TestAdversaryKeyPackageSubstitution(t *testing.T) {
	srv, alice, bob := aliceAndBob(t)
	mallory := NewMember(t, srv.Link, nil)
	// Bob's account and Bob's device key, but the leaf signs with Mallory's.
	bobKey := bob.DeviceKey()
	bobsDevice := mallory.Forged(bob.AccountKey())
	copy(bobsDevice[32:64], bobKey[:])
	for _, cred := range [][]byte{
		mallory.Forged(bob.AccountKey()), // Bob's account, Mallory's device
		bobsDevice,
	} {
		kp, err := mallory.Identity(cred).NewKeyPackage(mls.Config{}, mls.KeyPackageOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bobDev := store.DeviceID(deviceID(bob))
		srv.Store.SubstituteKeyPackages(func(d store.DeviceID) ([]byte, bool) { return kp.Message, d == bobDev })
		err = sendText(t, alice, "bob", "secret")
		var ae *client.AuthError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), "WARNING") {
			t.Fatalf("sending with a substituted key package: %v, want a WARNING *client.AuthError", err)
		}
		waitMessage(t, alice, "a warning about bob's keys", warning("bob"))
		for _, d := range mallory.Delivered() {
			if d.Kind == wire.KindWelcome {
				t.Fatal("Mallory got a Welcome meant for bob")
			}
		}
	}
}

// TestAdversaryForgedCredentialInUpdatePath: a member of a group commits
// with an UpdatePath whose new leaf claims Alice's account. Bob refuses
// the commit with a warning; the member stays who she was.
func TestAdversaryForgedCredentialInUpdatePath(t *testing.T) {
	_, alice, bob, mallory, g, ids := malloryGroupWithBob(t)
	mallory.SendApp(g, ids, map[string]any{"type": "meta", "kind": "group", "name": "club"})
	mallory.SendApp(g, ids, map[string]any{"type": "text", "text": "welcome", "sent": time.Now().UnixMilli()})
	waitMessage(t, bob, "mallory's text", text("mallory", "welcome"))

	// As an Update proposal first, then in the commit's UpdatePath.
	prop, err := g.ProposeUpdateIdentity(mallory.Identity(mallory.Forged(alice.AccountKey())), mls.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mallory.Send(wire.KindProposal, g.GroupID(), g.Epoch(), ids, prop)
	waitMessage(t, bob, "a warning about the forged Update proposal", warning("impersonating alice"))
	before := count(messages(t, bob), warning("impersonating alice"))

	epoch := g.Epoch()
	res, err := g.Commit(mls.CommitOptions{Identity: mallory.Identity(mallory.Forged(alice.AccountKey()))})
	if err != nil {
		t.Fatal(err)
	}
	mallory.Send(wire.KindCommit, g.GroupID(), epoch, ids, res.Commit)
	waitMessage(t, bob, "a warning about the forged UpdatePath", func(m client.Message) bool {
		return warning("impersonating alice")(m) && count(messages(t, bob), warning("impersonating alice")) > before
	})
	if got := members(t, bob, "club"); !slices.Equal(got, []string{"mallory", "me"}) {
		t.Fatalf("bob's club after the forged update: %v", got)
	}
}

// malloryGroupWithBob starts a server where alice and bob are contacts,
// bob has added mallory (a hostile member), and mallory has made a group
// with all of bob's devices, honestly: the start of the forged-credential
// attacks.
func malloryGroupWithBob(t *testing.T) (srv *Server, alice, bob *client.Client, mallory *Member, g *mls.Group, ids []wire.DeviceID) {
	t.Helper()
	srv = StartServer(t)
	alice, bob = newUser(t, srv.Link, "alice", nil), newUser(t, srv.Link, "bob", nil)
	befriend(t, alice, bob)
	mallory = NewMember(t, srv.Link, nil)
	if _, err := bob.AddContact(context.Background(), client.Invite{Account: mallory.AccountKey, Server: srv.Link, Name: "mallory"}, ""); err != nil {
		t.Fatal(err)
	}
	kps, ids := mallory.ClaimAll(bob.AccountKey())
	g = mallory.NewGroup(mallory.Identity(mallory.Honest()), kps, ids)
	return srv, alice, bob, mallory, g, ids
}
