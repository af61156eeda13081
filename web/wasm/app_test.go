//go:build js && wasm

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"syscall/js"
	"testing"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/securechan"
)

// Run under Node with fake-indexeddb (.ci/run), as client's wasm tests.

func obj(kv map[string]any) js.Value { return js.ValueOf(kv) }

// TestCreateOpenInviteOffline: an account made in the browser's store
// opens again with its passphrase, refuses the wrong one, and gives an
// invite link and QR without a server (none runs here: the WebSocket
// dial fails and the client stays offline).
func TestCreateOpenInviteOffline(t *testing.T) {
	if js.Global().Get("indexedDB").IsUndefined() {
		testenv.Require(t, errors.New("no indexedDB global"), "an IndexedDB", "preload fake-indexeddb: NODE_OPTIONS=--require fake-indexeddb/auto")
	}
	ctx := context.Background()
	a := &app{}
	if existsStore() {
		t.Fatal("exists before create")
	}
	key, err := securechan.GenerateServerKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	link := client.ServerLink{Key: key.Public(), Addrs: []string{"127.0.0.1:9"}}.String()
	args := map[string]any{"name": "alice", "passphrase": "pw-1", "serverLink": link, "wsURL": "ws://127.0.0.1:9/ws", "testLightKDF": true}
	if _, err := a.create(ctx, obj(map[string]any{"passphrase": "pw-1", "wsURL": "http://x/", "serverLink": link})); err == nil || !strings.Contains(err.Error(), "ws://") {
		t.Fatalf("an http URL: %v", err)
	}
	got, err := a.create(ctx, obj(args))
	if err != nil {
		t.Fatal(err)
	}
	if got.(map[string]any)["name"] != "alice" || !existsStore() {
		t.Fatalf("create gave %v, exists %v", got, existsStore())
	}
	inv, err := a.inviteLink(ctx, js.Undefined())
	if err != nil || !strings.HasPrefix(inv.(string), "samizdat://invite?") {
		t.Fatalf("invite %v %v", inv, err)
	}
	qr, err := a.inviteQR(ctx, js.Undefined())
	if err != nil || !strings.HasPrefix(qr.(string), "data:image/png;base64,") {
		t.Fatalf("qr %.40v %v", qr, err)
	}
	if st, _ := a.status(ctx, js.Undefined()); st.(map[string]any)["state"] == "connected" {
		t.Fatal("connected with no server")
	}
	if _, err := a.close(ctx, js.Undefined()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.open(ctx, obj(map[string]any{"passphrase": "wrong", "wsURL": "ws://127.0.0.1:9/ws"})); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	got, err = a.open(ctx, obj(map[string]any{"passphrase": "pw-1", "wsURL": "ws://127.0.0.1:9/ws"}))
	if err != nil || got.(map[string]any)["name"] != "alice" {
		t.Fatalf("open: %v %v", got, err)
	}
	a.close(ctx, js.Undefined())
}
