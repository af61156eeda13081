package client

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/mls"
)

// Invitations (docs/spec/authentication.md §6): a Welcome to a chat that
// has someone the user never added as a contact is not shown as a chat.
// The client joins the MLS group (so that it can accept later without a
// new Welcome) but lists it as an invitation: its messages are kept out
// of sight, nothing can be sent to it, and the user accepts or declines.

// ErrNoSuchInvitation: no pending invitation has that name.
var ErrNoSuchInvitation = errors.New("client: no pending invitation has that name; run 'samizdat invitations' to list them")

// Invitation is a chat someone added this user to, waiting for an answer.
type Invitation struct {
	Name    string   // the group's name (or the inviter's, for a 1:1 chat)
	Members []string // every account in it, by the names this user knows
	Joined  time.Time
}

// agreedLocked reports whether joining g (just joined from a Welcome)
// needs no invitation: the member whose commit added us (the Welcome's
// signer, authenticated like every leaf) is one of our own devices or a
// contact.
func (c *Client) agreedLocked(t *tx, g *mls.Group) bool {
	for _, m := range g.Members() {
		if m.LeafIndex != g.Inviter() {
			continue
		}
		a, _, err := parseCredential(m.Identity)
		if err != nil {
			return false
		}
		var ct Contact
		return a == c.AccountKey() || t.get("contact", a[:], &ct)
	}
	return false
}

// invitationKey is where an invitation's own event is stored: apart from
// the chat's messages, which stay hidden until it is accepted.
func invitationKey(ch *chat) []byte { return append([]byte("invite\x00"), ch.hash[:]...) }

// inviteLocked turns a freshly joined chat into an invitation and stores
// the event the user sees.
func (c *Client) inviteLocked(t *tx, ch *chat) Message {
	ch.rec.Invite = true
	ch.rec.InvitedAt = time.Now().Unix()
	who := strings.Join(c.memberNamesLocked(t, ch, c.AccountKey()), ", ")
	m := Message{Chat: c.chatDisplayLocked(t, ch), Kind: MessageEvent, Time: time.Now().UTC(),
		Text: fmt.Sprintf("%s invited you to a group you never agreed to join. It is not shown as a chat until you accept: run 'samizdat invitations' to see it, then accept or decline it", who)}
	t.addMessage(invitationKey(ch), &m)
	m.invitation = true
	return m
}

// Invitations lists the pending invitations.
func (c *Client) Invitations(ctx context.Context) ([]Invitation, error) {
	return readStore(c, ctx, c.invitationsLocked)
}

func (c *Client) invitationsLocked(t *tx) []Invitation {
	var out []Invitation
	for _, ch := range c.allChatsLocked(t) {
		if !ch.rec.Invite || ch.rec.Declined || !ch.rec.Active {
			continue
		}
		out = append(out, Invitation{Name: c.chatDisplayLocked(t, ch), Joined: time.Unix(ch.rec.InvitedAt, 0).UTC(),
			Members: c.memberNamesLocked(t, ch, AccountKey{})})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AcceptInvitation makes the invitation called name a chat: its messages
// so far are shown and the user can send to it.
func (c *Client) AcceptInvitation(ctx context.Context, name string) error {
	return c.answerInvitation(ctx, name, true)
}

// DeclineInvitation drops the invitation called name: nothing of it is
// shown, now or later. (The other members still address this device until
// one of them removes it; what they send is dropped unread.)
func (c *Client) DeclineInvitation(ctx context.Context, name string) error {
	return c.answerInvitation(ctx, name, false)
}

func (c *Client) answerInvitation(ctx context.Context, name string, accept bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	var found *chat
	for _, ch := range c.allChatsLocked(t) {
		if ch.rec.Invite && !ch.rec.Declined && ch.rec.Active && c.chatDisplayLocked(t, ch) == name {
			found = ch
			break
		}
	}
	if found == nil {
		t.rollback()
		return ErrNoSuchInvitation
	}
	found.rec.Invite = false
	text := "you declined the invitation"
	if accept {
		text = "you accepted the invitation"
		found.rec.Accepted = true
	} else {
		found.rec.Declined = true
		t.delMessages(found.hash[:])
	}
	m := Message{Chat: name, Kind: MessageEvent, Time: time.Now().UTC(), Text: text}
	t.addMessage(invitationKey(found), &m)
	c.saveChatLocked(t, found)
	if err := t.commit(); err != nil {
		c.dropChatLocked(found)
		return err
	}
	return nil
}

// visibleLocked keeps, of msgs stored for a hidden chat, only its
// invitation events (the rest is shown once it is accepted).
func (c *Client) visibleLocked(t *tx, ch *chat, msgs []Message) []Message {
	var out []Message
	for _, m := range msgs {
		if m.invitation {
			out = append(out, m)
		}
	}
	return out
}

// hidden reports whether ch's messages are out of sight (a pending
// or declined invitation).
func (ch *chat) hidden() bool { return ch.rec.Invite || ch.rec.Declined }
