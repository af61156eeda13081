package client

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// Message kinds.
const (
	MessageText  = "text"  // a text someone wrote
	MessageEvent = "event" // something that happened to the chat
	MessageError = "error" // something that failed; the user should know
	MessageFile  = "file"  // an attachment (File), with an optional caption in Text
)

// Message is one stored entry of a chat, as the user sees it.
type Message struct {
	ID   int64     `json:"-"`
	Chat string    `json:"chat"` // the chat's name for this user
	From string    `json:"from,omitempty"`
	Out  bool      `json:"out,omitempty"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`           // stored
	Sent time.Time `json:"sent,omitzero"`  // the sender's clock
	File *FileInfo `json:"file,omitempty"` // MessageFile: attach_msg.go

	invitation bool // an invitation's own event (invitations.go)
}

// chatDisplayLocked is the name a user knows a chat by.
func (c *Client) chatDisplayLocked(t *tx, ch *chat) string {
	if ch.rec.Kind == KindDirect {
		return c.nameOfLocked(t, ch.rec.Peer)
	}
	if ch.rec.Name != "" {
		return ch.rec.Name
	}
	return "unnamed-group"
}

func (c *Client) chatNameLocked(t *tx, h wire.GroupHash) string {
	if ch := c.chatLocked(t, h); ch != nil {
		return c.chatDisplayLocked(t, ch)
	}
	return ""
}

// Messages returns the stored messages of the chat called name (every
// chat if name is empty), oldest first. With onlyNew, it returns only the
// messages not returned before, and marks them shown.
func (c *Client) Messages(ctx context.Context, name string, onlyNew bool) ([]Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil, err
	}
	var hashes [][]byte
	if name != "" {
		for _, ch := range c.allChatsLocked(t) {
			if c.chatDisplayLocked(t, ch) == name {
				hashes = append(hashes, append([]byte(nil), ch.hash[:]...))
			}
		}
		if len(hashes) == 0 {
			_, _, err := c.findChatLocked(t, name)
			t.rollback()
			return nil, err
		}
	}
	all, err := t.t.messages(onlyNew)
	if err != nil {
		t.rollback()
		return nil, err
	}
	// Pending and declined invitations are out of sight (invitations.go).
	var hidden [][]byte
	for _, ch := range c.allChatsLocked(t) {
		if ch.hidden() {
			hidden = append(hidden, append([]byte(nil), ch.hash[:]...))
		}
	}
	var out []Message
	for _, r := range all {
		if name != "" && !containsBytes(hashes, r.chat) {
			continue
		}
		if containsBytes(hidden, r.chat) {
			continue
		}
		b, err := c.store.open(r.v, msgAD(r.chat))
		if err != nil {
			continue
		}
		var m Message
		if json.Unmarshal(b, &m) == nil {
			m.ID = r.id
			out = append(out, m)
		}
		clear(b)
		if onlyNew {
			t.fail(t.t.markShown(r.id))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, t.commit()
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if string(x) == string(b) {
			return true
		}
	}
	return false
}

// ChatInfo describes one chat.
type ChatInfo struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Members []string `json:"members"`
	Epoch   uint64   `json:"epoch"`
	Active  bool     `json:"active"`
	// Pending: a direct chat a person who is not a contact started; answer
	// it under Name, or add their invite link to name them.
	Pending bool `json:"pending,omitempty"`
}

// Chats lists this user's chats.
func (c *Client) Chats(ctx context.Context) ([]ChatInfo, error) {
	return readStore(c, ctx, c.chatsLocked)
}

func (c *Client) chatsLocked(t *tx) []ChatInfo {
	var out []ChatInfo
	for _, ch := range c.allChatsLocked(t) {
		if ch.hidden() {
			continue // invitations.go
		}
		info := ChatInfo{Name: c.chatDisplayLocked(t, ch), Kind: ch.rec.Kind, Epoch: ch.g.Epoch(), Active: ch.rec.Active}
		if ch.rec.Kind == KindDirect {
			var ct Contact
			info.Pending = !t.get("contact", ch.rec.Peer[:], &ct)
		}
		info.Members = c.memberNamesLocked(t, ch, AccountKey{})
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
