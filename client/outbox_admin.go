package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OutboxEntry describes one message in the outbox, for `samizdat outbox`.
type OutboxEntry struct {
	ID     int64     `json:"id"`
	Chat   string    `json:"chat"`
	Kind   string    `json:"kind"` // application, commit, welcome...
	Size   int       `json:"size"` // bytes of the encrypted payload
	Failed bool      `json:"failed"`
	Reason string    `json:"reason,omitempty"` // why it failed
	At     time.Time `json:"failed_at,omitzero"`
}

// OutboxEntries lists the outbox, oldest first: the messages waiting to
// be sent and those set aside as failed, with their reasons.
func (c *Client) OutboxEntries(ctx context.Context) ([]OutboxEntry, error) {
	var all []outboxRow
	err := c.store.do(ctx, func(t engineTx) (err error) {
		all, err = t.outbox()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("client: reading the outbox: %w", err)
	}
	var out []OutboxEntry
	err = c.readLocked(ctx, func(t *tx) error {
		for _, r := range all {
			oe := OutboxEntry{ID: r.id, Kind: "damaged"}
			if e, err := c.openOutbox(r.v); err == nil {
				oe.Kind, oe.Size = e.Kind.String(), len(e.Payload)
				oe.Chat = c.chatNameLocked(t, e.Group)
			}
			if r.failed {
				oe.Failed, oe.At = true, time.Unix(r.failedAt, 0).UTC()
				if b, err := c.store.open(r.reason, []byte(fmt.Sprintf("outbox-failed\x00%d", r.id))); err == nil {
					oe.Reason = string(b)
				} else {
					oe.Reason = "(reason damaged in the local store)"
				}
			}
			out = append(out, oe)
		}
		return nil
	})
	return out, err
}

// ErrNoOutboxEntry: no outbox entry has that id.
var ErrNoOutboxEntry = fmt.Errorf("client: no message with that id in the outbox; 'samizdat outbox' lists them")

// RetryOutbox puts a failed entry back in line (id 0: every failed one).
func (c *Client) RetryOutbox(ctx context.Context, id int64) (int, error) {
	var n int
	err := c.store.do(ctx, func(t engineTx) (err error) {
		n, err = t.unfailOutbox(id)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("client: retrying outbox entries: %w", err)
	}
	if n == 0 && id != 0 {
		return 0, ErrNoOutboxEntry
	}
	c.poke(c.outboxCh)
	return int(n), nil
}

// DropOutbox deletes an entry from the outbox (id 0: every failed one);
// a dropped message is never sent.
func (c *Client) DropOutbox(ctx context.Context, id int64) (int, error) {
	var n int
	err := c.store.do(ctx, func(t engineTx) (err error) {
		n, err = t.dropOutbox(id)
		if err == nil && n == 0 && id != 0 {
			err = ErrNoOutboxEntry
		}
		return err
	})
	if errors.Is(err, ErrNoOutboxEntry) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("client: dropping outbox entries: %w", err)
	}
	return n, nil
}

// FailedCount is how many outbox entries this client set aside as failed
// since it opened (for `send --wait`).
func (c *Client) FailedCount() int64 { return c.failedCount.Load() }
