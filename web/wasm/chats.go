//go:build js && wasm

package main

import (
	"context"
	"strings"
	"syscall/js"

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
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]any, 0, len(list))
	for _, ch := range list {
		item := map[string]any{"id": ch.Name, "kind": ch.Kind, "title": ch.Name, "unread": a.unread[ch.Name], "last": nil}
		if m, ok := last[ch.Name]; ok {
			item["last"] = map[string]any{"text": m.Text, "at": m.Time.UnixMilli()}
		}
		out = append(out, item)
	}
	return out, nil
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
	return map[string]any{"id": float64(m.ID), "chatId": m.Chat, "from": from, "fromName": m.From,
		"mine": m.Out, "text": m.Text, "at": m.Time.UnixMilli(), "state": state, "kind": m.Kind}
}

func (a *app) history(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	msgs, err := c.Messages(ctx, str(arg, "chatId"), false)
	if err != nil {
		return nil, err
	}
	if n := arg.Get("limit"); n.Type() == js.TypeNumber && n.Int() > 0 && len(msgs) > n.Int() {
		msgs = msgs[len(msgs)-n.Int():]
	}
	out := make([]any, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, historyItem(m))
	}
	return out, nil
}

func (a *app) send(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	text := str(arg, "text")
	if strings.TrimSpace(text) == "" {
		return nil, errEmpty
	}
	if err := c.Send(ctx, str(arg, "chatId"), text); err != nil {
		return nil, err
	}
	a.emit("chats", nil)
	n, _ := c.Pending(ctx)
	state := "sent"
	if n > 0 {
		state = "queued"
	}
	return map[string]any{"state": state}, nil
}

type userError string

func (e userError) Error() string { return string(e) }

const errEmpty = userError("the message is empty; type some text first")

func (a *app) markRead(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	name := str(arg, "chatId")
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
				return nil, err
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
