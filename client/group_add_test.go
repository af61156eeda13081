//go:build !js

package client

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAddToGroupContactNeverOnline: a contact made with 'samizdat init'
// (which works offline) has no device list and no KeyPackages on the
// server until it first connects. Adding them to a group must say so:
// before, AddToGroup found nothing to commit and returned nil, the member
// list lacked them, and no Welcome ever went out (found by the browser
// test web/e2e TestGroupWithCLIUser).
func TestAddToGroupContactNeverOnline(t *testing.T) {
	link := startServer(t)
	alice := newUser(t, link, "alice", nil)
	home := filepath.Join(t.TempDir(), "erin")
	erin, err := Init(InitOptions{Options: userOptions(t, home, "erin"), Server: link, Name: "erin"})
	if err != nil {
		t.Fatal(err)
	}
	defer erin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := alice.AddContact(ctx, erin.Invite(), ""); err != nil {
		t.Fatal(err)
	}
	if err := alice.CreateGroup(ctx, "friends"); err != nil {
		t.Fatal(err)
	}
	err = alice.AddToGroup(ctx, "friends", "erin")
	if err == nil || !strings.Contains(err.Error(), "no device with keys") {
		t.Fatalf("adding a contact who never connected: %v, want an error saying they have no device with keys", err)
	}
	// Once erin has been online, the same call adds her.
	startUser(t, erin)
	if _, err := erin.AddContact(ctx, alice.Invite(), ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for err = alice.AddToGroup(ctx, "friends", "erin"); err != nil && time.Now().Before(deadline); err = alice.AddToGroup(ctx, "friends", "erin") {
		time.Sleep(200 * time.Millisecond) // erin's first KeyPackages are on their way
	}
	if err != nil {
		t.Fatalf("adding erin once she was online: %v", err)
	}
	send(t, alice, "friends", "hello erin")
	waitText(t, erin, "friends", "alice", "hello erin")
}
