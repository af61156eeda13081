package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// outboxEntry is one Send waiting for the server's Ack. It is stored
// (sealed) before it is sent and deleted only once acknowledged; retries
// reuse its MsgID, so the server delivers it once.
type outboxEntry struct {
	MsgID      wire.MsgID      `json:"msg_id"`
	Group      wire.GroupHash  `json:"group"`
	Epoch      uint64          `json:"epoch"`
	Kind       wire.Kind       `json:"kind"`
	Recipients []wire.DeviceID `json:"recipients"`
	Payload    []byte          `json:"payload"`
}

// nextOutbox returns the oldest outbox entry and its row id.
func (c *Client) nextOutbox(ctx context.Context) (int64, *outboxEntry, error) {
	var id int64
	var sealed []byte
	err := c.store.db.QueryRowContext(ctx, `SELECT id, v FROM outbox ORDER BY id LIMIT 1`).Scan(&id, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	b, err := c.store.open(sealed, []byte("outbox"))
	if err != nil {
		return id, nil, err
	}
	var e outboxEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return id, nil, err
	}
	return id, &e, nil
}

// Pending returns how many messages wait in the outbox.
func (c *Client) Pending(ctx context.Context) (int, error) {
	var n int
	err := c.store.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, err
}

// outboxLoop sends the outbox in order, one message at a time (so the
// server sees each group's messages in the order they were made).
func (c *Client) outboxLoop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		id, e, err := c.nextOutbox(ctx)
		if err != nil && e == nil && id != 0 {
			c.logf("client: dropping a damaged outbox entry: %v", err)
			c.store.db.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id)
			continue
		}
		if e == nil {
			select {
			case <-ctx.Done():
				return
			case <-c.outboxCh:
			case <-time.After(time.Second):
			}
			continue
		}
		err = c.sendReliably(ctx, &wire.Send{MsgID: e.MsgID, Group: e.Group, Epoch: e.Epoch, Kind: e.Kind, Recipients: e.Recipients, Payload: e.Payload})
		var revoked *RevokedError
		if errors.As(err, &revoked) {
			return // keep the entry: the device is stopped (revoked.go)
		}
		if errors.Is(err, ErrOffline) || ctx.Err() != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if err != nil {
			// The server refused it for good: tell the user, do not block
			// the messages behind it.
			c.recordError(ctx, e.Group, userError("sending a message", err).Error())
		}
		c.store.db.ExecContext(context.Background(), `DELETE FROM outbox WHERE id = ?`, id)
	}
}

// recordError stores an error event in a chat and shows it.
func (c *Client) recordError(ctx context.Context, h wire.GroupHash, text string) {
	c.mu.Lock()
	t, err := c.store.begin(ctx)
	if err != nil {
		c.mu.Unlock()
		return
	}
	m := Message{Chat: c.chatNameLocked(t, h), Kind: MessageError, Text: text, Time: time.Now().UTC()}
	t.addMessage(h[:], &m)
	err = t.commit()
	c.mu.Unlock()
	if err == nil {
		c.emit([]Message{m})
	}
}

// Flush waits until the outbox is empty (every message acknowledged by the
// server) or ctx ends.
func (c *Client) Flush(ctx context.Context) error {
	for {
		n, err := c.Pending(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := c.revokedErr(); err != nil {
			return err
		}
		c.poke(c.outboxCh)
		select {
		case <-ctx.Done():
			return errors.New("client: messages are still waiting to be sent; they stay in the outbox and go out on the next connection")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
