//go:build !js

package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestOutboxFailedEntryListedRetriedDropped: the poisoned entry is set
// aside with its reason; the user sees, retries and drops it.
func TestOutboxFailedEntryListedRetriedDropped(t *testing.T) {
	_, alice, _ := twoFriends(t)
	send(t, alice, "bob", "first")
	poison(t, alice, "bob")
	send(t, alice, "bob", "second")
	ctx := context.Background()
	es, err := alice.OutboxEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || !es[0].Failed || !strings.Contains(es[0].Reason, "too large") || es[0].Chat != "bob" {
		t.Fatalf("outbox: %+v", es)
	}
	if n, _ := alice.Pending(ctx); n != 0 {
		t.Errorf("Pending counts the failed entry: %d", n)
	}
	if n, err := alice.RetryOutbox(ctx, es[0].ID); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	// It fails again, for the same reason.
	deadline := time.Now().Add(15 * time.Second)
	for es, _ := alice.OutboxEntries(ctx); len(es) != 1 || !es[0].Failed; es, _ = alice.OutboxEntries(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("the retried entry did not fail again: %+v", es)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := alice.DropOutbox(ctx, es[0].ID); err != nil || n != 1 {
		t.Fatalf("drop: %d %v", n, err)
	}
	if es, _ := alice.OutboxEntries(ctx); len(es) != 0 {
		t.Fatalf("outbox after drop: %+v", es)
	}
	if _, err := alice.DropOutbox(ctx, 999); !errors.Is(err, ErrNoOutboxEntry) {
		t.Errorf("dropping a missing entry: %v", err)
	}
	// An error event in the chat tells the user.
	ms, _ := alice.Messages(ctx, "bob", false)
	found := false
	for _, m := range ms {
		found = found || (m.Kind == MessageError && strings.Contains(m.Text, "samizdat outbox"))
	}
	if !found {
		t.Errorf("no error event in the chat: %+v", ms)
	}
}
