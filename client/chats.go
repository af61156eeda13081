package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/wire"
)

// Chat kinds.
const (
	KindDirect = "direct" // a 1:1 chat: all devices of two accounts
	KindGroup  = "group"  // a named group
)

// chatRecord is what the store keeps about a chat besides messages.
type chatRecord struct {
	State  []byte     `json:"state"` // mls.Group.Marshal
	Kind   string     `json:"kind"`
	Name   string     `json:"name,omitempty"` // group name
	Peer   AccountKey `json:"peer"`           // direct chats
	Active bool       `json:"active"`
	// invitations.go: a chat joined by a Welcome the user did not agree
	// to is an invitation until accepted; a declined one stays hidden.
	Invite    bool  `json:"invite,omitempty"`
	Declined  bool  `json:"declined,omitempty"`
	Accepted  bool  `json:"accepted,omitempty"`
	InvitedAt int64 `json:"invited_at,omitempty"`
	// Stranger: the member who added us was not a contact.
	Stranger bool `json:"stranger,omitempty"`
}

// chat is a loaded chat: its record and live MLS group.
type chat struct {
	hash wire.GroupHash
	rec  chatRecord
	g    *mls.Group
}

func groupHash(id []byte) wire.GroupHash { return sha256.Sum256(id) }

// appContent is the plaintext inside every application message.
type appContent struct {
	Type string `json:"type"` // "text" or "meta"
	Text string `json:"text,omitempty"`
	Sent int64  `json:"sent,omitempty"` // Unix milliseconds
	// meta: what kind of chat this is and, for groups, its name.
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	// file: an attach.Attachment descriptor; Text is the caption.
	File []byte `json:"file,omitempty"`
}

// loadChatsLocked loads every chat of the store into c.groups once.
func (c *Client) chatLocked(t *tx, h wire.GroupHash) *chat {
	if ch := c.groups[h]; ch != nil {
		return ch
	}
	var rec chatRecord
	if !t.get("chat", h[:], &rec) {
		return nil
	}
	g, err := mls.Restore(c.cfg, rec.State)
	if err != nil {
		t.fail(fmt.Errorf("restoring a chat: %w", err))
		return nil
	}
	ch := &chat{hash: h, rec: rec, g: g}
	c.groups[h] = ch
	return ch
}

// allChatsLocked returns every stored chat.
func (c *Client) allChatsLocked(t *tx) []*chat {
	var hashes []wire.GroupHash
	t.each("chat", func(k, v []byte) {
		var h wire.GroupHash
		copy(h[:], k)
		hashes = append(hashes, h)
	})
	var out []*chat
	for _, h := range hashes {
		if ch := c.chatLocked(t, h); ch != nil {
			out = append(out, ch)
		}
	}
	return out
}

// saveChatLocked stores a chat's record and group state in t.
func (c *Client) saveChatLocked(t *tx, ch *chat) {
	st, err := ch.g.Marshal()
	if err != nil {
		t.fail(err)
		return
	}
	ch.rec.State = st
	ch.rec.Active = ch.g.Active()
	t.put("chat", ch.hash[:], &ch.rec)
	clear(st)
}

// readLocked runs f under c.mu in a transaction of its own that is only
// read: it is rolled back after f.
func (c *Client) readLocked(ctx context.Context, f func(t *tx) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	defer t.rollback()
	return f(t)
}

// findChat is findChatLocked in a read-only transaction of its own, under
// c.mu.
func (c *Client) findChat(ctx context.Context, name string) (ch *chat, ct *Contact, err error) {
	err = c.readLocked(ctx, func(t *tx) error {
		ch, ct, err = c.findChatLocked(t, name)
		return err
	})
	return ch, ct, err
}

// findChatLocked finds the chat a user calls name: a group name, or a
// contact's name for the direct chat with them (nil if not created yet).
func (c *Client) findChatLocked(t *tx, name string) (*chat, *Contact, error) {
	for _, ch := range c.allChatsLocked(t) {
		if ch.rec.Active && !ch.hidden() && ch.rec.Kind == KindGroup && ch.rec.Name == name {
			return ch, nil, nil
		}
	}
	// A person who wrote first, not (yet) a contact: their direct chat is
	// answerable under the name it shows (a pending contact).
	if strings.HasPrefix(name, pendingPrefix) {
		for _, ch := range c.allChatsLocked(t) {
			if ch.rec.Active && ch.rec.Kind == KindDirect && c.nameOfLocked(t, ch.rec.Peer) == name {
				return ch, &Contact{Name: name, Account: ch.rec.Peer, Server: c.keys.Server}, nil
			}
		}
	}
	for _, ct := range c.contactsLocked(t) {
		if ct.Name != name {
			continue
		}
		for _, ch := range c.allChatsLocked(t) {
			if ch.rec.Active && !ch.hidden() && ch.rec.Kind == KindDirect && ch.rec.Peer == ct.Account {
				return ch, &ct, nil
			}
		}
		return nil, &ct, nil
	}
	if t.err != nil {
		return nil, nil, t.err
	}
	return nil, nil, ErrNoSuchContact
}

// memberDevices returns the (account, device) of every member but us.
func (c *Client) otherMembers(g *mls.Group) (accts []AccountKey, ids []wire.DeviceID) {
	me := c.DeviceKey()
	for _, m := range g.Members() {
		a, d, err := parseCredential(m.Identity)
		if err != nil || d == me {
			continue
		}
		accts = append(accts, a)
		ids = append(ids, DeviceIDOf(d))
	}
	return accts, ids
}

// encryptLocked encrypts content for ch and queues it in t's outbox.
func (c *Client) encryptLocked(t *tx, ch *chat, content appContent) error {
	pt, _ := json.Marshal(content)
	defer clear(pt)
	ct, err := ch.g.Encrypt(pt, nil)
	if err != nil {
		return fmt.Errorf("client: encrypting: %w", err)
	}
	if err := checkPayload(ct); err != nil { // outbox.go
		return err
	}
	_, ids := c.otherMembers(ch.g)
	if len(ids) == 0 {
		return nil
	}
	t.addOutbox(&outboxEntry{MsgID: randomMsgID(), Group: ch.hash, Epoch: ch.g.Epoch(), Kind: wire.KindApplication, Recipients: ids, Payload: ct})
	return nil
}

// Send sends text to a contact (their direct chat, created on first use)
// or to a group, by name. The message is in the outbox when Send returns;
// Flush waits until the server has it.
func (c *Client) Send(ctx context.Context, name, text string) error {
	if err := checkText(text); err != nil { // outbox.go
		return err
	}
	ch, ct, err := c.findChat(ctx, name)
	if err != nil {
		return err
	}
	if ch == nil {
		if ch, err = c.createChat(ctx, KindDirect, "", ct); err != nil {
			return err
		}
	}
	c.settleBeforeSend(ctx, ch)
	return c.sendText(ctx, ch, name, text)
}

// settleBeforeSend settles a commit of ours that still awaits its verdict
// in ch (after a crash, commit_pending.go) when the client is online, so
// that the text is encrypted in the epoch the group is really in and the
// members that commit added can read it. Offline, the text is encrypted
// in the current epoch and goes out later.
func (c *Client) settleBeforeSend(ctx context.Context, ch *chat) {
	c.mu.Lock()
	if cur := c.groups[ch.hash]; cur != nil {
		ch = cur
	}
	pending := ch.g.HasPendingCommit()
	c.mu.Unlock()
	c.sessMu.Lock()
	s := c.sess
	c.sessMu.Unlock()
	if !pending || s == nil || !s.alive() {
		return
	}
	if err := c.commitChange(ctx, ch, nil, nil, false); err != nil {
		c.logf("client: settling a group change before sending: %v", err)
	}
}

func (c *Client) sendText(ctx context.Context, ch *chat, name, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.groups[ch.hash]; cur != nil {
		ch = cur
	}
	if ch.g.HasPendingCommit() {
		// MLS encrypts nothing while our commit awaits its verdict.
		return errors.New("client: a change to this chat (adding or removing members) still waits for the server's answer, after a crash or a lost connection; it is settled as soon as the client is online: connect and send again")
	}
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if err := c.encryptLocked(t, ch, appContent{Type: "text", Text: text, Sent: now.UnixMilli()}); err != nil {
		t.rollback()
		c.dropChatLocked(ch)
		return err
	}
	c.saveChatLocked(t, ch)
	t.addMessage(ch.hash[:], &Message{Chat: name, From: "me", Out: true, Text: text, Time: now.UTC(), Kind: MessageText})
	if err := t.commit(); err != nil {
		c.dropChatLocked(ch)
		return err
	}
	c.poke(c.outboxCh)
	return nil
}

// dropChatLocked forgets the live state of a chat after a failed
// transaction, so it is reloaded from the store.
func (c *Client) dropChatLocked(ch *chat) { delete(c.groups, ch.hash) }

// createChat makes a new MLS group with this device, adds the peer's (for
// a direct chat) and our own other devices, and stores it once the
// Delivery Service accepted the first commit.
func (c *Client) createChat(ctx context.Context, kind, name string, peer *Contact) (*chat, error) {
	gid := make([]byte, 32)
	rand.Read(gid)
	g, err := mls.CreateGroup(c.cfg, c.mlsID, gid)
	if err != nil {
		return nil, fmt.Errorf("client: creating the chat: %w", err)
	}
	ch := &chat{hash: groupHash(gid), g: g, rec: chatRecord{Kind: kind, Name: name, Active: true}}
	var add []AccountKey
	if peer != nil {
		ch.rec.Peer = peer.Account
		add = append(add, peer.Account)
	}
	if err := c.commitChange(ctx, ch, add, nil, true); err != nil {
		return nil, err
	}
	return ch, nil
}

// CreateGroup creates a named group with this user's devices in it.
func (c *Client) CreateGroup(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	if _, _, err := c.findChat(ctx, name); err == nil {
		return fmt.Errorf("client: the name %q is already a contact or group; choose another", name)
	}
	_, err := c.createChat(ctx, KindGroup, name, nil)
	return err
}

// groupAndContact resolves a group name and a contact name.
func (c *Client) groupAndContact(ctx context.Context, group, contact string) (ch *chat, ct *Contact, err error) {
	err = c.readLocked(ctx, func(t *tx) error {
		ch, _, err = c.findChatLocked(t, group)
		if err != nil || ch == nil || ch.rec.Kind != KindGroup {
			return fmt.Errorf("client: no group named %q; create it with 'samizdat group create %s'", group, group)
		}
		for _, x := range c.contactsLocked(t) {
			if x.Name == contact {
				ct = &x
				return nil
			}
		}
		return fmt.Errorf("client: no contact named %q; add them with 'samizdat add LINK'", contact)
	})
	if err != nil {
		return nil, nil, err
	}
	return ch, ct, nil
}

// AddToGroup adds every device of a contact to a group.
func (c *Client) AddToGroup(ctx context.Context, group, contact string) error {
	ch, ct, err := c.groupAndContact(ctx, group, contact)
	if err != nil {
		return err
	}
	return c.commitChange(ctx, ch, []AccountKey{ct.Account}, nil, false)
}

// RemoveFromGroup removes every device of a contact from a group.
func (c *Client) RemoveFromGroup(ctx context.Context, group, contact string) error {
	ch, ct, err := c.groupAndContact(ctx, group, contact)
	if err != nil {
		return err
	}
	return c.commitChange(ctx, ch, nil, []AccountKey{ct.Account}, false)
}

// GroupMembers lists the accounts (by the names this user knows them by)
// in a chat.
func (c *Client) GroupMembers(ctx context.Context, name string) (names []string, err error) {
	err = c.readLocked(ctx, func(t *tx) error {
		ch, _, err := c.findChatLocked(t, name)
		if err != nil {
			return err
		}
		if ch == nil {
			return errors.New("client: no chat with that contact yet; send a message first")
		}
		names = c.memberNamesLocked(t, ch, AccountKey{})
		return nil
	})
	return names, err
}
