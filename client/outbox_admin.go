package client

import (
	"context"
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
	rows, err := c.store.db.QueryContext(ctx, `SELECT o.id, o.v, f.at, f.reason FROM outbox o LEFT JOIN outbox_failed f ON f.id = o.id ORDER BY o.id`)
	if err != nil {
		return nil, fmt.Errorf("client: reading the outbox: %w", err)
	}
	type row struct {
		id        int64
		v, reason []byte
		at        *int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.v, &r.at, &r.reason); err != nil {
			rows.Close()
			return nil, fmt.Errorf("client: reading the outbox: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	var out []OutboxEntry
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer t.rollback()
	for _, r := range all {
		oe := OutboxEntry{ID: r.id, Kind: "damaged"}
		if e, err := c.openOutbox(r.v); err == nil {
			oe.Kind, oe.Size = e.Kind.String(), len(e.Payload)
			oe.Chat = c.chatNameLocked(t, e.Group)
		}
		if r.at != nil {
			oe.Failed, oe.At = true, time.Unix(*r.at, 0).UTC()
			if b, err := c.store.open(r.reason, []byte(fmt.Sprintf("outbox-failed\x00%d", r.id))); err == nil {
				oe.Reason = string(b)
			} else {
				oe.Reason = "(reason damaged in the local store)"
			}
		}
		out = append(out, oe)
	}
	return out, nil
}

// ErrNoOutboxEntry: no outbox entry has that id.
var ErrNoOutboxEntry = fmt.Errorf("client: no message with that id in the outbox; 'samizdat outbox' lists them")

// RetryOutbox puts a failed entry back in line (id 0: every failed one).
func (c *Client) RetryOutbox(ctx context.Context, id int64) (int, error) {
	q, args := `DELETE FROM outbox_failed`, []any{}
	if id != 0 {
		q, args = q+` WHERE id = ?`, []any{id}
	}
	res, err := c.store.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("client: retrying outbox entries: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 && id != 0 {
		return 0, ErrNoOutboxEntry
	}
	c.poke(c.outboxCh)
	return int(n), nil
}

// DropOutbox deletes an entry from the outbox (id 0: every failed one);
// a dropped message is never sent.
func (c *Client) DropOutbox(ctx context.Context, id int64) (int, error) {
	tx, err := c.store.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("client: dropping outbox entries: %w", err)
	}
	defer tx.Rollback()
	dropOutbox, dropFailed, args := `DELETE FROM outbox WHERE id = ?`, `DELETE FROM outbox_failed WHERE id = ?`, []any{id}
	if id == 0 {
		dropOutbox, dropFailed, args = `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox_failed)`, `DELETE FROM outbox_failed`, nil
	}
	res, err := tx.ExecContext(ctx, dropOutbox, args...)
	if err != nil {
		return 0, fmt.Errorf("client: dropping outbox entries: %w", err)
	}
	n, _ := res.RowsAffected()
	// Before, this error was assigned to a variable of the branch's scope and
	// never checked (staticcheck SA4006): a failed delete still committed.
	if _, err := tx.ExecContext(ctx, dropFailed, args...); err != nil {
		return 0, fmt.Errorf("client: dropping outbox entries: %w", err)
	}
	if n == 0 && id != 0 {
		return 0, ErrNoOutboxEntry
	}
	return int(n), tx.Commit()
}

// FailedCount is how many outbox entries this client set aside as failed
// since it opened (for `send --wait`).
func (c *Client) FailedCount() int64 { return c.failedCount.Load() }
