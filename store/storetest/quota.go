package storetest

import (
	"context"
	"testing"

	"github.com/samizdat-project/samizdat/store"
)

// mailboxByteCounter is the optional method the server's quotas use.
type mailboxByteCounter interface {
	MailboxBytes(ctx context.Context, device store.DeviceID) (int64, error)
}

// testMailboxBytes: the bytes waiting in a mailbox follow Sends, duplicate
// recipients and Acks; an unknown device has none.
func testMailboxBytes(t *testing.T, h *harness) {
	c, ok := h.s.(mailboxByteCounter)
	if !ok {
		t.Skip("this store has no MailboxBytes; the server's mailbox and account quotas are off with it")
	}
	bytesOf := func(d store.DeviceID) int64 {
		t.Helper()
		n, err := c.MailboxBytes(ctx, d)
		if err != nil {
			t.Fatalf("MailboxBytes: %v", err)
		}
		return n
	}
	a, b := h.device(store.AccountID{}), h.device(store.AccountID{})
	if n := bytesOf(a.ID); n != 0 {
		t.Fatalf("empty mailbox holds %d bytes", n)
	}
	h.send(app("12345", a.ID, b.ID, a.ID))
	h.send(app("1234567890", a.ID))
	if n := bytesOf(a.ID); n != 15 {
		t.Fatalf("mailbox holds %d bytes, want 15", n)
	}
	if n := bytesOf(b.ID); n != 5 {
		t.Fatalf("other mailbox holds %d bytes, want 5", n)
	}
	es := h.pending(a.ID, 0)
	if err := h.s.Ack(ctx, a.ID, es[0].Seq); err != nil {
		t.Fatal(err)
	}
	if n := bytesOf(a.ID); n != 10 {
		t.Fatalf("after an Ack the mailbox holds %d bytes, want 10", n)
	}
	if n := bytesOf(store.DeviceID{1}); n != 0 {
		t.Fatalf("an unknown device's mailbox holds %d bytes", n)
	}
}
