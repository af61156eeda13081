package adversary

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

// TestAdversaryUninvitedGroupWelcome: a stranger adds Bob to a group he
// never agreed to join. Bob must see an invitation (listed, with accept
// and decline), not a chat: the stranger's texts are not shown, Bob
// cannot send to it, and once declined nothing from it is shown.
func TestAdversaryUninvitedGroupWelcome(t *testing.T) {
	srv := StartServer(t)
	bob := newUser(t, srv.Link, "bob", nil)
	ctx := context.Background()
	mallory := NewMember(t, srv.Link, nil)

	invite := func(name, body string) (send func(string)) {
		kps, ids := mallory.ClaimAll(bob.AccountKey())
		g := mallory.NewGroup(mallory.Identity(mallory.Honest()), kps, ids)
		mallory.SendApp(g, ids, map[string]any{"type": "meta", "kind": "group", "name": name})
		mallory.SendApp(g, ids, map[string]any{"type": "text", "text": body, "sent": time.Now().UnixMilli()})
		return func(s string) {
			mallory.SendApp(g, ids, map[string]any{"type": "text", "text": s, "sent": time.Now().UnixMilli()})
		}
	}
	more := invite("party", "come to my party")

	waitMessage(t, bob, "an invitation", func(m client.Message) bool {
		return m.Kind == client.MessageEvent && strings.Contains(m.Text, "invited you")
	})
	var invs []client.Invitation
	deadline := time.Now().Add(10 * time.Second)
	for len(invs) == 0 || invs[0].Name != "party" {
		if time.Now().After(deadline) {
			t.Fatalf("invitations: %+v", invs)
		}
		time.Sleep(30 * time.Millisecond)
		var err error
		if invs, err = bob.Invitations(ctx); err != nil {
			t.Fatal(err)
		}
	}
	noMessage(t, bob, 300*time.Millisecond, "the stranger's text as a chat message", func(m client.Message) bool { return m.Kind == client.MessageText })
	chats, err := bob.Chats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chats {
		if c.Name == "party" {
			t.Fatalf("the invitation is listed as a chat: %+v", c)
		}
	}
	if err := bob.Send(ctx, "party", "hi"); err == nil {
		t.Fatal("bob could send to a group he never accepted")
	}
	if err := bob.DeclineInvitation(ctx, "party"); err != nil {
		t.Fatal(err)
	}
	more("still there?")
	noMessage(t, bob, 500*time.Millisecond, "a text of the declined group", func(m client.Message) bool { return m.Kind == client.MessageText })
	if invs, _ := bob.Invitations(ctx); len(invs) != 0 {
		t.Fatalf("declined invitation still listed: %+v", invs)
	}

	// Accepted, the group is a chat like any other.
	invite("book-club", "first meeting")
	deadline = time.Now().Add(10 * time.Second)
	for {
		err := bob.AcceptInvitation(ctx, "book-club")
		if err == nil {
			break
		}
		if !errors.Is(err, client.ErrNoSuchInvitation) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	waitMessage(t, bob, "the accepted group's text", func(m client.Message) bool {
		return m.Kind == client.MessageText && m.Text == "first meeting" && m.Chat == "book-club"
	})
}
