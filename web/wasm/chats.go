//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

// Chats are named as the client names them (a contact's name, a group's
// name): chatId is that name.

func (a *app) chats(ctx context.Context, _ js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	list, err := c.Chats(ctx)
	if err != nil {
		return nil, err
	}
	msgs, err := c.Messages(ctx, "", false)
	if err != nil {
		return nil, err
	}
	last := map[string]client.Message{}
	for _, m := range msgs {
		last[m.Chat] = m
	}
	channels := a.channelChats()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]any, 0, len(list)+len(channels))
	for _, ch := range list {
		item := map[string]any{"id": ch.Name, "kind": ch.Kind, "title": ch.Name, "unread": a.unread[ch.Name], "last": nil}
		if m, ok := last[ch.Name]; ok {
			item["last"] = map[string]any{"text": lastText(m.Text, m.File != nil), "at": m.Time.UnixMilli()}
		}
		out = append(out, item)
	}
	return append(out, channels...), nil
}

// historyItem is a message as the page sees it.
func historyItem(m client.Message) map[string]any {
	state := "received"
	if m.Out {
		state = "sent" // stored after it was queued; the outbox sends it
	}
	from := m.From
	if m.Out {
		from = ""
	}
	item := map[string]any{"id": float64(m.ID), "chatId": m.Chat, "from": from, "fromName": m.From,
		"mine": m.Out, "text": m.Text, "at": m.Time.UnixMilli(), "state": state, "kind": m.Kind}
	if m.File != nil {
		item["file"] = chatFileItem(m.File)
	}
	return item
}

func (a *app) history(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	limit := 0
	if n := arg.Get("limit"); n.Type() == js.TypeNumber {
		limit = n.Int()
	}
	if strings.HasPrefix(str(arg, "chatId"), channelPrefix) {
		return a.channelHistory(ctx, str(arg, "chatId"), limit)
	}
	msgs, err := c.Messages(ctx, str(arg, "chatId"), false)
	if err != nil {
		return nil, err
	}
	if n := arg.Get("limit"); n.Type() == js.TypeNumber && n.Int() > 0 && len(msgs) > n.Int() {
		msgs = msgs[len(msgs)-n.Int():]
	}
	out := make([]any, 0, len(msgs))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range msgs {
		item := historyItem(m)
		if m.Out && a.queued[m.ID] {
			item["state"] = "queued"
		}
		out = append(out, item)
	}
	return out, nil
}

func (a *app) send(ctx context.Context, arg js.Value) (any, error) {
	c, text, err := a.clientAndText(arg)
	if err != nil {
		return nil, err
	}
	if err := c.Send(ctx, str(arg, "chatId"), text); err != nil {
		return nil, err
	}
	return map[string]any{"state": a.sentState(ctx, c, str(arg, "chatId"))}, nil
}

// sentState is "queued" while the outbox holds what was just stored for
// chat (marking it so), else "sent"; the page redraws.
func (a *app) sentState(ctx context.Context, c *client.Client, chat string) string {
	n, _ := c.Pending(ctx)
	state := "sent"
	if n > 0 {
		state = "queued"
		a.trackQueued(ctx, c, chat)
	}
	a.emit("chats", nil)
	return state
}

// lastText is what the chat list shows of a last message: a file's
// caption, or that it is a file.
func lastText(text string, file bool) string {
	if file && text == "" {
		return "File"
	}
	if file {
		return "File: " + text
	}
	return text
}

// trackQueued marks the chat's newest own message as queued until the
// outbox is empty: the store does not tie a history entry to its outbox
// entry, and the outbox sends in order, so an empty outbox means every
// message shown as queued has gone out. The page redraws on "chats".
func (a *app) trackQueued(ctx context.Context, c *client.Client, chat string) {
	msgs, err := c.Messages(ctx, chat, false)
	if err != nil {
		return
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Out {
			a.mu.Lock()
			if a.queued == nil {
				a.queued = map[int64]bool{}
			}
			first := len(a.queued) == 0
			a.queued[msgs[i].ID] = true
			a.mu.Unlock()
			if first {
				go a.watchOutbox(c)
			}
			return
		}
	}
}

// watchOutbox clears the queued marks once the outbox has drained.
func (a *app) watchOutbox(c *client.Client) {
	for {
		time.Sleep(500 * time.Millisecond)
		n, err := c.Pending(context.Background())
		if err != nil {
			return // the client closed
		}
		if n > 0 {
			continue
		}
		a.mu.Lock()
		a.queued = nil
		a.mu.Unlock()
		a.emit("chats", nil)
		return
	}
}

type userError string

func (e userError) Error() string { return string(e) }

const errEmpty = userError("the message is empty; type some text first")

// clientAndText is the open account and the text of arg (a chat message
// or a channel post), which must not be blank.
func (a *app) clientAndText(arg js.Value) (*client.Client, string, error) {
	c, err := a.client()
	if err != nil {
		return nil, "", err
	}
	text := str(arg, "text")
	if strings.TrimSpace(text) == "" {
		return nil, "", errEmpty
	}
	return c, text, nil
}

func (a *app) markRead(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	name := str(arg, "chatId")
	if strings.HasPrefix(name, channelPrefix) {
		return nil, nil // a channel has no unread count
	}
	if _, err := c.Messages(ctx, name, true); err != nil { // marks them shown in the store
		return nil, err
	}
	a.mu.Lock()
	delete(a.unread, name)
	a.mu.Unlock()
	a.emit("chats", nil)
	return nil, nil
}

func (a *app) createGroup(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	title := str(arg, "title")
	if err := c.CreateGroup(ctx, title); err != nil {
		return nil, err
	}
	if m := arg.Get("members"); m.Type() == js.TypeObject {
		for i := range m.Length() {
			if err := c.AddToGroup(ctx, title, m.Index(i).String()); err != nil {
				a.emit("chats", nil)
				return nil, fmt.Errorf("the group %s was made, but adding %s failed: %w (add them later under Members)", title, m.Index(i).String(), err)
			}
		}
	}
	a.emit("chats", nil)
	return map[string]any{"chatId": title}, nil
}

func (a *app) addMember(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	return nil, c.AddToGroup(ctx, str(arg, "chatId"), str(arg, "name"))
}

func (a *app) removeMember(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	return nil, c.RemoveFromGroup(ctx, str(arg, "chatId"), str(arg, "name"))
}

func (a *app) members(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	names, err := c.GroupMembers(ctx, str(arg, "chatId"))
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]any{"name": n, "account": ""})
	}
	return out, nil
}
