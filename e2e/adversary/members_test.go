package adversary

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// team makes alice, bob and carol (contacts of each other) and a group
// "team" of alice and bob.
func team(t *testing.T, srv *Server) (alice, bob, carol *client.Client) {
	t.Helper()
	u := contacts(t, srv, "alice", "bob", "carol")
	alice, bob, carol = u[0], u[1], u[2]
	ctx := context.Background()
	if err := alice.CreateGroup(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	if err := alice.AddToGroup(ctx, "team", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := sendText(t, alice, "team", "hello team"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, bob, "alice's text", text("alice", "hello team"))
	return alice, bob, carol
}

func members(t *testing.T, c *client.Client, chat string) []string {
	t.Helper()
	m, err := c.GroupMembers(context.Background(), chat)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func count(ms []client.Message, match func(client.Message) bool) int {
	n := 0
	for _, m := range ms {
		if match(m) {
			n++
		}
	}
	return n
}

// TestAdversaryReplayedOldCommit: the server replays the commit that added
// carol to bob once more (under a new message id). Bob must not apply it
// again: one "carol joined" event, the same members, the chat still works,
// and the replay is shown as a message that was skipped.
func TestAdversaryReplayedOldCommit(t *testing.T) {
	srv := StartServer(t)
	alice, bob, carol := team(t, srv)
	if err := alice.AddToGroup(context.Background(), "team", "carol"); err != nil {
		t.Fatal(err)
	}
	joined := func(m client.Message) bool {
		return m.Kind == client.MessageEvent && strings.HasPrefix(m.Text, "carol joined (device "+client.Fingerprint(carol.DeviceKey()))
	}
	waitMessage(t, bob, "carol joining, with her device", joined)
	var commit *store.Send
	for _, s := range srv.Store.Sent() {
		if s.Kind == store.KindCommit && slices.Contains(s.Recipients, store.DeviceID(deviceID(bob))) {
			commit = &s
		}
	}
	if commit == nil {
		t.Fatal("no commit to bob recorded")
	}
	srv.Inject(wire.KindCommit, wire.GroupHash(commit.Group), commit.Epoch, []wire.DeviceID{deviceID(bob)}, commit.Payload)
	waitMessage(t, bob, "the replay skipped", func(m client.Message) bool {
		return m.Kind == client.MessageError && strings.Contains(m.Text, "skipped")
	})
	if err := sendText(t, alice, "team", "after the replay"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, bob, "alice's next text", text("alice", "after the replay"))
	if n := count(messages(t, bob), joined); n != 1 {
		t.Fatalf("bob shows carol joining %d times", n)
	}
	if got := members(t, bob, "team"); !slices.Equal(got, []string{"alice", "carol", "me"}) {
		t.Fatalf("bob's team: %v", got)
	}
}

// TestAdversaryCommitFromRemovedMember: Mallory is removed from a group;
// the server then delivers a commit she made from her old state (adding a
// device of hers back). Bob must refuse it: no member is added and Mallory
// stays out.
func TestAdversaryCommitFromRemovedMember(t *testing.T) {
	srv := StartServer(t)
	bob := newUser(t, srv.Link, "bob", nil)
	ctx := context.Background()
	mallory := NewMember(t, srv.Link, nil)
	if _, err := bob.AddContact(ctx, client.Invite{Account: mallory.AccountKey, Server: srv.Link, Name: "mallory"}, ""); err != nil {
		t.Fatal(err)
	}
	kps, ids := mallory.ClaimAll(bob.AccountKey())
	g := mallory.NewGroup(mallory.Identity(mallory.Honest()), kps, ids)
	mallory.SendApp(g, ids, map[string]any{"type": "meta", "kind": "group", "name": "club"})
	mallory.SendApp(g, ids, map[string]any{"type": "text", "text": "hi", "sent": time.Now().UnixMilli()})
	waitMessage(t, bob, "mallory's text", text("mallory", "hi"))
	if err := bob.RemoveFromGroup(ctx, "club", "mallory"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, bob, "mallory leaving", func(m client.Message) bool { return strings.HasPrefix(m.Text, "mallory left") })

	// From her state before the removal, Mallory adds a second device.
	second := NewMember(t, srv.Link, mallory.Account.Seed())
	kp, err := second.Identity(second.Honest()).NewKeyPackage(mls.Config{}, mls.KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	epoch := g.Epoch()
	res, err := g.Commit(mls.CommitOptions{AddKeyPackages: [][]byte{kp.Message}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Inject(wire.KindCommit, sha256.Sum256(g.GroupID()), epoch, ids, res.Commit)
	waitMessage(t, bob, "the stale commit skipped", func(m client.Message) bool {
		return m.Kind == client.MessageError && strings.Contains(m.Text, "skipped")
	})
	noMessage(t, bob, 300*time.Millisecond, "mallory back", func(m client.Message) bool {
		return strings.HasPrefix(m.Text, "mallory joined") || strings.HasPrefix(m.Text, "mallory added")
	})
	if got := members(t, bob, "club"); !slices.Equal(got, []string{"me"}) {
		t.Fatalf("bob's club after the stale commit: %v", got)
	}
}

// TestAdversaryReorderedAndDroppedCommits: the server holds back the commit
// that adds carol while delivering alice's next text, which belongs to the
// epoch after it. Bob must not show the text early or out of its epoch; he
// shows that it waits for an earlier change, and once the server delivers
// the commit (late), he applies both in order. A commit the server never
// delivers leaves the later texts held, never shown as something else.
func TestAdversaryReorderedAndDroppedCommits(t *testing.T) {
	srv := StartServer(t)
	alice, bob, _ := team(t, srv)
	srv.Store.WithholdSends(func(s store.Send) bool { return s.Kind == store.KindCommit })
	if err := alice.AddToGroup(context.Background(), "team", "carol"); err != nil {
		t.Fatal(err)
	}
	if err := sendText(t, alice, "team", "carol is here"); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, bob, "that a message waits for an earlier change", func(m client.Message) bool {
		return m.Kind == client.MessageEvent && strings.Contains(m.Text, "waits for an earlier change")
	})
	noMessage(t, bob, 300*time.Millisecond, "the text before its commit", text("alice", "carol is here"))

	// Delivered late: applied in order.
	srv.Store.WithholdSends(nil)
	srv.Release()
	waitMessage(t, bob, "carol joining", func(m client.Message) bool { return strings.HasPrefix(m.Text, "carol joined") })
	waitMessage(t, bob, "the held text", text("alice", "carol is here"))

	// Dropped for good: the next change never reaches bob.
	srv.Store.WithholdSends(func(s store.Send) bool { return s.Kind == store.KindCommit })
	if err := alice.RemoveFromGroup(context.Background(), "team", "carol"); err != nil {
		t.Fatal(err)
	}
	if err := sendText(t, alice, "team", "carol is gone"); err != nil {
		t.Fatal(err)
	}
	noMessage(t, bob, time.Second, "a text of an epoch bob never reached", text("alice", "carol is gone"))
	if got := members(t, bob, "team"); !slices.Equal(got, []string{"alice", "carol", "me"}) {
		t.Fatalf("bob's team changed without the commit: %v", got)
	}
}
