//go:build !js

package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// TestOversizedMessageRefusedAtOnce: a 1.2 MB text is refused when it is
// written, not queued; the sends after it go out.
func TestOversizedMessageRefusedAtOnce(t *testing.T) {
	_, alice, bob := twoFriends(t)
	send(t, alice, "bob", "first")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := alice.Send(ctx, "bob", strings.Repeat("x", 1200*1000))
	if err == nil {
		alice.Flush(ctx)
		t.Fatal("a 1.2 MB message was accepted")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("refusing it took %v", d)
	}
	if !strings.Contains(err.Error(), "at most") {
		t.Errorf("the error does not name the limit: %v", err)
	}
	send(t, alice, "bob", "after the big one")
	waitText(t, bob, "alice", "alice", "after the big one")
	ms, _ := alice.Messages(ctx, "bob", false)
	for _, m := range ms {
		if m.Out && len(m.Text) > 1000 {
			t.Errorf("history shows the refused message as sent")
		}
	}
}

// poison puts an entry that can never be sent (a payload above the wire
// limit) at the head of c's outbox, as a bug or an older version could.
func poison(t *testing.T, c *Client, to string) {
	t.Helper()
	ctx := context.Background()
	c.mu.Lock()
	defer c.mu.Unlock()
	tx, err := c.store.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, _, err := c.findChatLocked(tx, to)
	if err != nil || ch == nil {
		t.Fatalf("no chat %s: %v", to, err)
	}
	_, ids := c.otherMembers(ch.g)
	tx.addOutbox(&outboxEntry{MsgID: randomMsgID(), Group: ch.hash, Epoch: ch.g.Epoch(), Kind: wire.KindApplication, Recipients: ids, Payload: make([]byte, wire.MaxPayload+1)})
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
}

// TestPoisonedOutboxDoesNotBlock: an outbox entry that can never go out
// does not hold up the messages behind it.
func TestPoisonedOutboxDoesNotBlock(t *testing.T) {
	_, alice, bob := twoFriends(t)
	send(t, alice, "bob", "first")
	poison(t, alice, "bob")
	send(t, alice, "bob", "behind the poisoned one")
	waitText(t, bob, "alice", "alice", "behind the poisoned one")
}
