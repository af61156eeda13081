package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/wire"
)

// Pending commits. A commit of an existing chat is stored before it is
// sent: the chat's group state with the commit pending (mls.Group.Marshal
// keeps it) and, under ("pcommit", group hash), the Send itself with its
// MsgID, the Welcome for the added devices and the change it is for. If
// the client dies after the server accepted the commit and before it was
// merged, the stored group is one epoch behind a group that has moved on
// without it; so before anything else is committed to that chat (the next
// group change, and syncOwnDevices on every connection) the client settles
// the stored commit by sending the same Send again:
//
//   - Ack: the server accepted it (a retried MsgID is acknowledged within
//     the server's idempotency window, docs/spec/wire.md 6.4, even once the
//     epoch has moved on): merge it, queue its Welcome, store.
//   - StaleEpoch: another member's commit won that epoch: drop ours, wait
//     for the winning commits (they are in our mailbox) and rebuild the
//     change on top (6.5).
//   - the chat already moved past the commit's epoch: a winning commit of
//     someone else was processed (which drops our pending commit): rebuild.
//   - any other refusal: drop it; no verdict (offline): keep it.
//
// Limitation: a commit settled only after the idempotency window (7 days
// by default) has passed is answered StaleEpoch even if it had won; the
// client then cannot follow the group and says so after waitEpoch.

// pendingCommitRec is a sent (or about to be sent) commit awaiting its
// verdict.
type pendingCommitRec struct {
	MsgID      wire.MsgID      `json:"msg_id"`
	Epoch      uint64          `json:"epoch"`
	Recipients []wire.DeviceID `json:"recipients"`
	Commit     []byte          `json:"commit"`
	Welcome    []byte          `json:"welcome,omitempty"`
	WelcomeTo  []wire.DeviceID `json:"welcome_to,omitempty"`
	Change     change          `json:"change"`
	Before     []AccountKey    `json:"before,omitempty"` // accounts in the chat before it (older versions)
	// BeforeDevices is every device in the chat before it.
	BeforeDevices []memberKey `json:"before_devices,omitempty"`
	Built         int64       `json:"built"` // Unix seconds
}

func (r *pendingCommitRec) send(h wire.GroupHash) *wire.Send {
	return &wire.Send{MsgID: r.MsgID, Group: h, Epoch: r.Epoch, Kind: wire.KindCommit, Recipients: r.Recipients, Payload: r.Commit}
}

// welcomeEntry is the outbox entry of the commit's Welcome (nil if none),
// for the chat once the commit is merged.
func (r *pendingCommitRec) welcomeEntry(ch *chat) *outboxEntry {
	if r.Welcome == nil {
		return nil
	}
	return &outboxEntry{MsgID: randomMsgID(), Group: ch.hash, Epoch: ch.g.Epoch(), Kind: wire.KindWelcome, Recipients: r.WelcomeTo, Payload: r.Welcome}
}

func keysOf(m map[memberKey]bool) []memberKey {
	out := make([]memberKey, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	return out
}

// storePendingCommitLocked stores ch (its group with the pending commit)
// and rec in one transaction. On failure the commit is dropped.
func (c *Client) storePendingCommitLocked(ctx context.Context, ch *chat, rec *pendingCommitRec) error {
	t, err := c.store.begin(ctx)
	if err == nil {
		c.saveChatLocked(t, ch)
		t.put("pcommit", ch.hash[:], rec)
		err = t.commit()
	}
	if err != nil {
		ch.g.ClearPendingCommit()
		c.dropChatLocked(ch)
		return fmt.Errorf("client: storing the group change before sending it: %w", err)
	}
	return nil
}

// dropPendingCommitLocked drops our pending commit of ch, in memory and in
// the store.
func (c *Client) dropPendingCommitLocked(ctx context.Context, ch *chat) error {
	ch.g.ClearPendingCommit()
	t, err := c.store.begin(ctx)
	if err == nil {
		c.saveChatLocked(t, ch)
		t.del("pcommit", ch.hash[:])
		err = t.commit()
	}
	if err != nil {
		c.dropChatLocked(ch)
		return fmt.Errorf("client: dropping a refused group change: %w", err)
	}
	return nil
}

// mergePendingLocked merges our accepted commit of ch and, in one
// transaction, stores the chat, queues the Welcome, records who joined or
// left, applies held messages the new epoch opens and forgets rec.
func (c *Client) mergePendingLocked(ctx context.Context, ch *chat, rec *pendingCommitRec) error {
	if err := ch.g.MergePendingCommit(); err != nil {
		return fmt.Errorf("client: applying the group change: %w", err)
	}
	before := map[memberKey]bool{}
	for _, m := range rec.BeforeDevices {
		before[m] = true
	}
	for _, a := range rec.Before {
		before[memberKey{Account: a}] = true // a record of an older version
	}
	t, err := c.store.begin(ctx)
	if err != nil {
		c.dropChatLocked(ch)
		return err
	}
	if w := rec.welcomeEntry(ch); w != nil {
		t.addOutbox(w)
		if err := c.encryptLocked(t, ch, appContent{Type: "meta", Kind: ch.rec.Kind, Name: ch.rec.Name}); err != nil {
			t.rollback()
			c.dropChatLocked(ch)
			return err
		}
	}
	msgs := c.membershipEventsLocked(t, ch, before)
	msgs = append(msgs, c.drainPendingLocked(t, ch, 0)...)
	c.saveChatLocked(t, ch)
	t.del("pcommit", ch.hash[:])
	if err := t.commit(); err != nil {
		c.dropChatLocked(ch)
		return err
	}
	go c.emit(msgs)
	c.poke(c.outboxCh)
	return nil
}

// settleLocked settles a stored commit of ch that has no verdict yet (see
// the top of this file). lost is the change of a commit that lost its
// epoch, to be rebuilt; wait, if not 0, is the epoch to catch up with
// first (released c.mu).
func (c *Client) settleLocked(ctx context.Context, ch *chat) (lost *change, wait uint64, err error) {
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	var rec pendingCommitRec
	ok := t.get("pcommit", ch.hash[:], &rec)
	t.rollback()
	if t.err != nil {
		return nil, 0, t.err
	}
	if !ok {
		if ch.g.HasPendingCommit() { // never stored, so never sent
			ch.g.ClearPendingCommit()
		}
		return nil, 0, nil
	}
	if !ch.g.HasPendingCommit() || ch.g.Epoch() != rec.Epoch {
		// A commit of someone else for that epoch was processed.
		c.logf("client: an earlier group change lost epoch %d; rebuilding it", rec.Epoch)
		return &rec.Change, 0, c.dropPendingCommitLocked(ctx, ch)
	}
	err = c.sendReliably(ctx, rec.send(ch.hash))
	var we *wire.Error
	switch {
	case err == nil:
		c.logf("client: an earlier group change (epoch %d) was accepted; merging it", rec.Epoch)
		return nil, 0, c.mergePendingLocked(ctx, ch, &rec)
	case errors.As(err, &we) && we.Code == wire.CodeStaleEpoch:
		if derr := c.dropPendingCommitLocked(ctx, ch); derr != nil {
			return nil, 0, derr
		}
		if we.CurrentEpoch < rec.Epoch {
			return nil, 0, errors.New("client: the server forgot this group's history (its epoch went back); tell the server's operator")
		}
		c.rebases.Add(1)
		c.logf("client: an earlier group change lost epoch %d; rebasing on %d", rec.Epoch, we.CurrentEpoch)
		return &rec.Change, we.CurrentEpoch, nil
	case settledByError(err):
		c.logf("client: the server refused an earlier group change: %v", err)
		return nil, 0, c.dropPendingCommitLocked(ctx, ch)
	}
	return nil, 0, userError("settling an earlier group change (it is retried on the next connection)", err)
}

// settledByError reports whether err is the server's final refusal of a
// Send (nothing was delivered), as opposed to no answer.
func settledByError(err error) bool {
	var we *wire.Error
	return errors.As(err, &we) && !we.Code.Retryable() && we.Code != wire.CodeDeviceRevoked
}
