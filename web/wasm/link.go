//go:build js && wasm

package main

import (
	"context"
	"errors"
	"syscall/js"

	"github.com/samizdat-project/samizdat/client"
)

// Linking this browser as a device of an existing account: the browser
// shows a one-time code (client.StartLink), a device of the account
// approves it ('samizdat device approve CODE'), then linkWait opens the
// account here.

// linkDevice({serverLink, passphrase, wsURL}) -> {code, link, verification}
func (a *app) linkDevice(ctx context.Context, arg js.Value) (any, error) {
	o, err := a.options(arg)
	if err != nil {
		return nil, err
	}
	server, err := client.ParseServerLink(str(arg, "serverLink"))
	if err != nil {
		return nil, err
	}
	r, err := client.StartLink(ctx, client.InitOptions{Options: o, Server: server})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.link != nil {
		a.link.Close()
	}
	a.link = r
	a.mu.Unlock()
	return map[string]any{"code": r.Code, "link": r.Link, "verification": r.Verification}, nil
}

// linkWait() -> {account, name} once a device of the account approved.
func (a *app) linkWait(context.Context, js.Value) (any, error) {
	a.mu.Lock()
	r := a.link
	a.link = nil
	a.mu.Unlock()
	if r == nil {
		return nil, errors.New("no device link is in progress; call linkDevice first")
	}
	defer r.Close()
	// Approval waits for a person: not bounded by the call timeout.
	c, err := r.Wait(context.Background())
	if err != nil {
		return nil, err
	}
	return a.started(c)
}
