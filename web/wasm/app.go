//go:build js && wasm

package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/reach"
)

// home names this browser's store (one account per browser profile and
// origin: IndexedDB is per origin).
const home = "browser"

// app is the one account open in the page.
type app struct {
	mu       sync.Mutex
	c        *client.Client
	cancel   context.CancelFunc
	unread   map[string]int // chat name -> messages arrived since markRead
	handlers map[string][]js.Value
	link     *client.LinkRequest  // a device link in progress (link.go)
	queued   map[int64]bool       // ids of own messages still in the outbox (chats.go)
	ctx      context.Context      // ends when the account closes
	wsURL    string               // the page's stream to the server
	channels map[string]*followed // followed channels by name (channels.go)
}

// wasmSilence is how long a path with an answer due may stay silent
// before the client moves to a fresh connection. A precaution, not a
// measured need: the desktop default (1-4 s, client/budget.go) assumes the
// reader runs while the client computes, but in WebAssembly the Go program
// shares the page's one thread, so while it computes (an MLS commit, a
// batch of KeyPackages) the WebSocket's frames wait in the page's event
// queue. (The reconnects every second that TestGroupWithCLIUser showed had
// another cause: the server's idle read deadline, web/listener.go bridge.)
const wasmSilence = 15 * time.Second

// consoleLog writes the client's log lines (connection changes, retries;
// never keys or message text) to the browser's console.
func consoleLog(format string, args ...any) {
	js.Global().Get("console").Call("debug", fmt.Sprintf(format, args...))
}

// method is one API call: arg is its argument object.
type method func(ctx context.Context, arg js.Value) (any, error)

func (a *app) methods() map[string]method {
	return map[string]method{
		"exists":        func(context.Context, js.Value) (any, error) { return existsStore(), nil },
		"create":        a.create,
		"open":          a.open,
		"inviteLink":    a.inviteLink,
		"inviteQR":      a.inviteQR,
		"addContact":    a.addContact,
		"chats":         a.chats,
		"history":       a.history,
		"send":          a.send,
		"markRead":      a.markRead,
		"createGroup":   a.createGroup,
		"addMember":     a.addMember,
		"removeMember":  a.removeMember,
		"members":       a.members,
		"status":        a.status,
		"close":         a.close,
		"linkDevice":    a.linkDevice,
		"linkWait":      a.linkWait,
		"followChannel": a.followChannel,
		"createChannel": a.createChannel,
		"post":          a.post,
		"channelLink":   a.channelLink,
		"thumbnail":     a.thumbnail,
		"download":      a.download,
		"sendFile":      a.sendFile,
		"scanQR":        a.scanQR,
		"on":            nil, // synchronous: main.go
	}
}

var errNotOpen = errors.New("no account is open in this page; create one or open it with your passphrase first")

// client returns the open client.
func (a *app) client() (*client.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.c == nil {
		return nil, errNotOpen
	}
	return a.c, nil
}

// options are the client options of the page: the WebSocket transport,
// the events.
func (a *app) options(arg js.Value) (client.Options, error) {
	pass := str(arg, "passphrase")
	if pass == "" {
		return client.Options{}, errors.New("enter a passphrase")
	}
	dial, err := client.WebSocketDialer(str(arg, "wsURL"))
	if err != nil {
		return client.Options{}, err
	}
	a.mu.Lock()
	a.wsURL = str(arg, "wsURL")
	a.mu.Unlock()
	o := client.Options{Home: home, Passphrase: []byte(pass), Dialer: dial,
		OnMessage: a.onMessage,
		OnPath:    a.onPath,
		Logf:      consoleLog, PingTimeout: wasmSilence,
		OnSent: func(i client.SentInfo) {
			consoleLog("client: sent kind %d epoch %d to %d devices (%d bytes)", i.Kind, i.Epoch, len(i.Recipients), i.PayloadSize)
		}}
	if arg.Get("testLightKDF").Truthy() {
		kdf := client.LightKDF
		o.KDF = &kdf
	}
	return o, nil
}

func (a *app) create(ctx context.Context, arg js.Value) (any, error) {
	o, err := a.options(arg)
	if err != nil {
		return nil, err
	}
	link, err := client.ParseServerLink(str(arg, "serverLink"))
	if err != nil {
		return nil, err
	}
	c, err := client.Init(client.InitOptions{Options: o, Server: link, Name: str(arg, "name")})
	if err != nil {
		return nil, err
	}
	return a.started(c)
}

func (a *app) open(ctx context.Context, arg js.Value) (any, error) {
	o, err := a.options(arg)
	if err != nil {
		return nil, err
	}
	c, err := client.Open(o)
	var damaged *client.DamagedStoreError
	if errors.As(err, &damaged) {
		return nil, fmt.Errorf("the account saved in this browser is damaged (%v). Nothing was changed: link this browser again from another of your devices, or clear this site's data and create a new account", damaged.Err)
	}
	if err != nil {
		return nil, err
	}
	return a.started(c)
}

// started runs c's receive loop and outbox in the page.
func (a *app) started(c *client.Client) (any, error) {
	a.mu.Lock()
	if a.c != nil {
		a.mu.Unlock()
		c.Close()
		return nil, errors.New("an account is already open in this page; reload the page to open another")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.c, a.cancel, a.unread, a.ctx = c, cancel, map[string]int{}, ctx
	a.mu.Unlock()
	c.Start(ctx)
	a.followSaved(c)
	return map[string]any{"account": base64.RawURLEncoding.EncodeToString(accountBytes(c)), "name": c.Name()}, nil
}

func accountBytes(c *client.Client) []byte {
	k := c.AccountKey()
	return k[:]
}

func (a *app) close(context.Context, js.Value) (any, error) {
	a.mu.Lock()
	c, cancel := a.c, a.cancel
	a.c = nil
	a.mu.Unlock()
	if c == nil {
		return nil, nil
	}
	cancel()
	return nil, c.Close()
}

func (a *app) inviteLink(context.Context, js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	return c.Invite().String(), nil
}

func (a *app) inviteQR(context.Context, js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	return qrDataURL(c.Invite().String())
}

// qrDataURL is text as a QR code in a PNG data: URL (the CSP allows data:
// images).
func qrDataURL(text string) (string, error) {
	code, err := reach.EncodeQR(text)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG()), nil
}

func (a *app) addContact(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	in, err := client.ParseInvite(str(arg, "link"))
	if err != nil {
		return nil, err
	}
	ct, err := c.AddContact(ctx, in, str(arg, "name"))
	if err != nil {
		return nil, err
	}
	a.emit("chats", nil)
	return map[string]any{"chatId": ct.Name}, nil
}
