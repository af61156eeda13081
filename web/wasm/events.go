//go:build js && wasm

package main

import (
	"context"
	"syscall/js"

	"github.com/samizdat-project/samizdat/client"
)

// on(event, fn) adds a handler; events: "message", "chats", "status".
func (a *app) on(args []js.Value) any {
	if len(args) < 2 || args[0].Type() != js.TypeString || args[1].Type() != js.TypeFunction {
		return js.Global().Get("Error").New("on(event, fn): event is a name, fn a function")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handlers == nil {
		a.handlers = map[string][]js.Value{}
	}
	a.handlers[args[0].String()] = append(a.handlers[args[0].String()], args[1])
	return nil
}

// emit calls the handlers of event with v.
func (a *app) emit(event string, v any) {
	a.mu.Lock()
	hs := append([]js.Value(nil), a.handlers[event]...)
	a.mu.Unlock()
	for _, h := range hs {
		h.Invoke(v)
	}
}

// onMessage hears each stored message from the receive loop.
func (a *app) onMessage(m client.Message) {
	if !m.Out {
		a.mu.Lock()
		if a.unread != nil {
			a.unread[m.Chat]++
		}
		a.mu.Unlock()
	}
	a.emit("message", historyItem(m))
	a.emit("chats", nil)
}

// onPath hears every change of the path: the page redraws its status line,
// and why a path ended goes to the console.
func (a *app) onPath(p client.PathStatus) {
	if !p.Connected && p.LastError != "" {
		consoleLog("client: path down: %s", p.LastError)
	}
	a.emit("status", a.statusValue())
}

func (a *app) statusValue() map[string]any {
	a.mu.Lock()
	c := a.c
	a.mu.Unlock()
	if c == nil {
		return map[string]any{"state": "offline", "via": "", "detail": "no account open"}
	}
	p := c.Path()
	st := map[string]any{"state": "connecting", "via": "", "detail": p.LastError}
	if p.Connected {
		st["state"], st["via"] = "connected", "direct"
		if p.Kind == "relay" {
			st["via"] = "relay " + p.Path
		}
	}
	return st
}

func (a *app) status(context.Context, js.Value) (any, error) { return a.statusValue(), nil }

// existsStore reports whether this browser holds an account.
func existsStore() bool { return client.StoreExists(home) }
