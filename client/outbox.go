package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// outboxEntry is one Send waiting for the server's Ack. It is stored
// (sealed) before it is sent and deleted only once acknowledged; retries
// reuse its MsgID, so the server delivers it once.
//
// No entry can block the ones behind it: one the server refuses for good,
// or that cannot be encoded at all, is marked failed with its reason
// (table outbox_failed) and skipped; the user lists, retries or drops it
// (OutboxEntries, RetryOutbox, DropOutbox).
type outboxEntry struct {
	MsgID      wire.MsgID      `json:"msg_id"`
	Group      wire.GroupHash  `json:"group"`
	Epoch      uint64          `json:"epoch"`
	Kind       wire.Kind       `json:"kind"`
	Recipients []wire.DeviceID `json:"recipients"`
	Payload    []byte          `json:"payload"`
}

// MaxTextBytes is the largest text one message carries: what fits in one
// wire payload (wire.MaxPayload) with room for the MLS framing, the
// signature and the JSON around the text.
const MaxTextBytes = wire.MaxPayload - 16<<10

// TooLargeError: a message above the limit, refused before it is queued.
type TooLargeError struct {
	Size, Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("client: the message is %s; one message holds at most %s (%d bytes): split it into smaller messages", humanBytes(e.Size), humanBytes(e.Limit), e.Limit)
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkText refuses a text that cannot fit one message.
func checkText(text string) error {
	if len(text) > MaxTextBytes {
		return &TooLargeError{Size: len(text), Limit: MaxTextBytes}
	}
	return nil
}

// checkPayload refuses an encrypted payload above the wire's limit.
func checkPayload(ct []byte) error {
	if len(ct) > wire.MaxPayload {
		return &TooLargeError{Size: len(ct), Limit: wire.MaxPayload}
	}
	return nil
}

// nextOutbox returns the oldest outbox entry that has not failed, and its
// row id.
func (c *Client) nextOutbox(ctx context.Context) (int64, *outboxEntry, error) {
	var r outboxRow
	var ok bool
	err := c.store.do(ctx, func(t engineTx) (err error) {
		r, ok, err = t.nextOutbox()
		return err
	})
	if err != nil || !ok {
		return 0, nil, err
	}
	e, err := c.openOutbox(r.v)
	return r.id, e, err
}

func (c *Client) openOutbox(sealed []byte) (*outboxEntry, error) {
	b, err := c.store.open(sealed, []byte("outbox"))
	if err != nil {
		return nil, err
	}
	var e outboxEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Pending returns how many messages wait in the outbox to be sent (not
// counting failed ones).
func (c *Client) Pending(ctx context.Context) (int, error) {
	var n int
	err := c.store.do(ctx, func(t engineTx) (err error) {
		n, err = t.countOutbox()
		return err
	})
	return n, err
}

// markFailed sets an outbox entry aside with its reason.
func (c *Client) markFailed(id int64, reason string) {
	sealed := c.store.seal([]byte(reason), []byte(fmt.Sprintf("outbox-failed\x00%d", id)))
	err := c.store.do(context.Background(), func(t engineTx) error {
		return t.failOutbox(id, time.Now().Unix(), sealed)
	})
	if err != nil {
		c.logf("client: marking an outbox entry failed: %v", err)
	}
	c.failedCount.Add(1)
	c.outboxTookOut()
}

// outboxChange returns a channel closed the next time the outbox sender
// takes an entry out of the outbox (sent, or set aside as failed).
func (c *Client) outboxChange() <-chan struct{} {
	c.outboxMu.Lock()
	defer c.outboxMu.Unlock()
	if c.outboxMoved == nil {
		c.outboxMoved = make(chan struct{})
	}
	return c.outboxMoved
}

// outboxTookOut wakes those waiting in outboxChange.
func (c *Client) outboxTookOut() {
	c.outboxMu.Lock()
	defer c.outboxMu.Unlock()
	if c.outboxMoved != nil {
		close(c.outboxMoved)
		c.outboxMoved = nil
	}
}

// permanent reports whether err from sending e means it can never go out
// unchanged: the server refused it for good, or it cannot be encoded.
func permanent(err error) bool {
	var we *wire.Error
	if errors.As(err, &we) {
		return !we.Code.Retryable()
	}
	return false
}

// outboxLoop sends the outbox in order, one message at a time (so the
// server sees each group's messages in the order they were made).
func (c *Client) outboxLoop(ctx context.Context) {
	retry := newBackoff(10 * time.Second)
	for ctx.Err() == nil {
		id, e, err := c.nextOutbox(ctx)
		if err != nil && e == nil && id != 0 {
			c.logf("client: an outbox entry is damaged: %v", err)
			c.markFailed(id, "damaged in the local store: "+err.Error())
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
		send := &wire.Send{MsgID: e.MsgID, Group: e.Group, Epoch: e.Epoch, Kind: e.Kind, Recipients: e.Recipients, Payload: e.Payload}
		if _, err := wire.Encode(wire.Frame{RequestID: 1, Msg: send}); err != nil {
			// It can never go out (too large, no recipient...): set it aside.
			reason := "cannot be sent: " + err.Error()
			if errors.Is(err, wire.ErrTooLarge) {
				reason = fmt.Sprintf("too large to send (%s; the limit is %s)", humanBytes(len(e.Payload)), humanBytes(wire.MaxPayload))
			}
			c.markFailed(id, reason)
			c.recordError(ctx, e.Group, "a message was not sent: "+reason+"; 'samizdat outbox' lists it")
			continue
		}
		err = c.sendReliably(ctx, send)
		var revoked *RevokedError
		if errors.As(err, &revoked) {
			return // keep the entry: the device is stopped (revoked.go)
		}
		if errors.Is(err, ErrOffline) || ctx.Err() != nil {
			if !retry.sleep(ctx, 0) {
				return
			}
			continue
		}
		retry.reset()
		if err != nil && permanent(err) {
			// The server refused it for good: tell the user, do not block
			// the messages behind it.
			reason := userError("sending a message", err).Error()
			c.markFailed(id, reason)
			c.recordError(ctx, e.Group, reason)
			continue
		}
		if err != nil {
			continue // retry it
		}
		c.sendErr.Store(nil)
		c.store.do(context.Background(), func(t engineTx) error {
			_, err := t.delOutbox(id)
			return err
		})
		c.outboxTookOut()
	}
}

// noteSendRetry records the last retryable refusal of a Send (a full
// server, a quota), for OutboxWaitReason.
func (c *Client) noteSendRetry(err error) {
	var we *wire.Error
	if errors.As(err, &we) {
		c.sendErr.Store(&we.Code)
	}
}

// OutboxWaitReason says why the outbox waits, if the server refused its
// head for a reason that passes ("" if none): a full server or a used-up
// quota. The entry stays queued and is retried.
func (c *Client) OutboxWaitReason() string {
	code := c.sendErr.Load()
	if code == nil {
		return ""
	}
	switch *code {
	case wire.CodeStorageFull:
		return "the server is out of space; your message waits in the outbox and is retried"
	case wire.CodeQuotaExceeded:
		return "the storage quota on the server is used up; your message waits in the outbox and goes out once the recipients have fetched their messages"
	case wire.CodeRateLimited:
		return "the server asks to slow down; your message waits in the outbox"
	}
	return ""
}

// outboxState is what the outbox loop shares with the rest of the client.
type outboxState struct {
	sendErr     atomic.Pointer[wire.ErrorCode]
	failedCount atomic.Int64
	connErr     atomic.Pointer[error] // errclass.go
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

// Flush waits until no message waits in the outbox (every one
// acknowledged by the server or set aside as failed) or ctx ends.
func (c *Client) Flush(ctx context.Context) error {
	for {
		moved := c.outboxChange() // before counting: a send that ends meanwhile closes it
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
			if r := c.OutboxWaitReason(); r != "" {
				return errors.New("client: " + r)
			}
			return errors.New("client: messages are still waiting to be sent; they stay in the outbox and go out on the next connection")
		case <-moved:
		case <-time.After(20 * time.Millisecond): // entries queued or dropped elsewhere
		}
	}
}
