package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/wire"
)

// maxRebases bounds how often one change is rebuilt after losing the race
// for an epoch (docs/spec/wire.md 6.5).
const maxRebases = 8

// change is what a group change is meant to do; it survives a rebase and
// a restart (pendingCommitRec), unlike the commit built for it.
type change struct {
	Add    []AccountKey `json:"add,omitempty"`    // accounts whose devices to add
	Remove []AccountKey `json:"remove,omitempty"` // accounts whose devices to remove
}

// merge adds o's accounts to ch's.
func (ch *change) merge(o change) {
	ch.Add = appendNew(ch.Add, o.Add...)
	ch.Remove = appendNew(ch.Remove, o.Remove...)
}

func appendNew(list []AccountKey, more ...AccountKey) []AccountKey {
	for _, a := range more {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// commitChange adds every certified device of the add accounts (and of our
// own account) that is not yet in the chat, and removes every device of
// the remove accounts and every device this account revoked, in one commit
// through the Delivery Service. On StaleEpoch it drops its commit, waits
// until the winning commits are processed, and rebuilds the change on top.
// isNew marks a chat that is stored only once its first commit is accepted.
//
// The commit of an existing chat is stored with the group state (and the
// change it is for) before it is sent, and settled before anything else
// is committed to the chat (commit_pending.go): a client that dies between
// the server's Ack and the merge merges it on its next run.
func (c *Client) commitChange(ctx context.Context, ch *chat, add, remove []AccountKey, isNew bool) error {
	// Device list changes seen while planning are shown in the chats.
	defer c.flushNotices(ctx)
	// Messages already queued belong to the current epoch: send them first.
	if err := c.Flush(ctx); err != nil {
		return err
	}
	s, err := c.online(ctx)
	if err != nil {
		return err
	}
	want := change{Add: appendNew(nil, append(add, c.AccountKey())...), Remove: appendNew(nil, remove...)}
	devs := map[AccountKey][]wire.DeviceEntry{}
	claimed := map[wire.DeviceID][]byte{} // reused across rebases
	for range maxRebases {
		c.mu.Lock()
		if !isNew {
			if cur := c.groups[ch.hash]; cur != nil {
				ch = cur
			}
			// An earlier commit of ours may still wait for its verdict.
			lost, wait, err := c.settleLocked(ctx, ch)
			if err != nil {
				c.mu.Unlock()
				return err
			}
			if cur := c.groups[ch.hash]; cur != nil {
				ch = cur
			}
			if lost != nil {
				want.merge(*lost) // rebase that change along with ours
			}
			if wait > 0 {
				c.mu.Unlock()
				if err := c.waitEpoch(ctx, ch.hash, wait); err != nil {
					return err
				}
				continue
			}
		}
		for _, a := range want.Add {
			if _, ok := devs[a]; ok {
				continue
			}
			if devs[a], err = c.verifiedDevices(ctx, s, a); err != nil {
				c.mu.Unlock()
				return err
			}
		}
		kps, newIDs, removeLeaves, err := c.planChangeLocked(ctx, s, ch, devs, want.Remove, claimed)
		if err != nil {
			err = c.forgedKeysLocked(ctx, ch, isNew, err)
			c.mu.Unlock()
			return err
		}
		if len(kps) == 0 && len(removeLeaves) == 0 {
			defer c.mu.Unlock()
			if isNew && ch.rec.Kind == KindDirect {
				return errors.New("client: the contact has no device with keys left on the server; ask them to open samizdat once so it registers and uploads keys, then send again")
			}
			if isNew {
				return c.storeNewChatLocked(ctx, ch, nil)
			}
			return nil
		}
		before := c.membersLocked(ch.g)
		_, recipients := c.otherMembers(ch.g)
		epoch := ch.g.Epoch()
		res, err := ch.g.Commit(mls.CommitOptions{AddKeyPackages: kps, RemoveLeaves: removeLeaves, RatchetTreeInWelcome: true})
		if err != nil {
			c.mu.Unlock()
			return fmt.Errorf("client: building the group change: %w", err)
		}
		if c.testHookCommitBuilt != nil {
			c.testHookCommitBuilt()
		}
		send := &wire.Send{MsgID: randomMsgID(), Group: ch.hash, Epoch: epoch, Kind: wire.KindCommit, Recipients: recipients, Payload: res.Commit}
		rec := &pendingCommitRec{MsgID: send.MsgID, Epoch: epoch, Recipients: recipients, Commit: res.Commit,
			Welcome: res.Welcome, WelcomeTo: newIDs, Change: want, BeforeDevices: keysOf(before), Built: time.Now().Unix()}
		if !isNew {
			// Stored before it is sent: see commit_pending.go.
			if err := c.storePendingCommitLocked(ctx, ch, rec); err != nil {
				c.mu.Unlock()
				return err
			}
			if c.testHookCommitStored != nil {
				if herr := c.testHookCommitStored(); herr != nil {
					c.mu.Unlock()
					return herr // a simulated crash before the send
				}
			}
		}
		// A new group's first commit has no recipients: it only registers
		// the group with the Delivery Service (docs/spec/wire.md 6.3).
		err = c.sendReliably(ctx, send)
		if err == nil && c.testHookCommitAcked != nil {
			if herr := c.testHookCommitAcked(); herr != nil {
				c.mu.Unlock()
				return herr // a simulated crash: nothing more is done
			}
		}
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CodeStaleEpoch {
			if isNew {
				ch.g.ClearPendingCommit()
				c.mu.Unlock()
				return errors.New("client: the new chat's id collided on the server; try again")
			}
			derr := c.dropPendingCommitLocked(ctx, ch)
			c.mu.Unlock()
			if derr != nil {
				return derr
			}
			if we.CurrentEpoch < epoch {
				return errors.New("client: the server forgot this group's history (its epoch went back); tell the server's operator")
			}
			c.rebases.add(1)
			c.logf("client: commit lost the race for epoch %d; rebasing on %d", epoch, we.CurrentEpoch)
			if err := c.waitEpoch(ctx, ch.hash, we.CurrentEpoch); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			defer c.mu.Unlock()
			if isNew {
				ch.g.ClearPendingCommit()
				return userError("changing the group", err)
			}
			if !settledByError(err) {
				// No verdict (offline, cancelled, revoked): the commit stays
				// stored and is settled on the next connection.
				return userError("changing the group (it is settled on the next connection)", err)
			}
			if derr := c.dropPendingCommitLocked(ctx, ch); derr != nil {
				return derr
			}
			return userError("changing the group", err)
		}
		if isNew {
			err = c.mergeNewChatLocked(ctx, ch, rec)
			c.mu.Unlock()
		} else {
			err = c.mergePendingLocked(ctx, ch, rec)
			c.mu.Unlock()
		}
		if err != nil {
			return err
		}
		// Return once the Welcome is with the server, so that what the
		// caller sends next cannot overtake it. If the connection drops,
		// it stays in the outbox and goes out later.
		c.Flush(ctx)
		return nil
	}
	return errors.New("client: the group kept changing under this change; try again in a moment")
}

// mergeNewChatLocked merges the accepted first commit of a new chat and
// stores the chat with its Welcome.
func (c *Client) mergeNewChatLocked(ctx context.Context, ch *chat, rec *pendingCommitRec) error {
	if err := ch.g.MergePendingCommit(); err != nil {
		return fmt.Errorf("client: applying the group change: %w", err)
	}
	return c.storeNewChatLocked(ctx, ch, rec.welcomeEntry(ch))
}

// planChangeLocked works out the KeyPackages to add (claiming those not yet
// claimed) and the leaves to remove.
func (c *Client) planChangeLocked(ctx context.Context, s *session, ch *chat, devs map[AccountKey][]wire.DeviceEntry, remove []AccountKey, claimed map[wire.DeviceID][]byte) (kps [][]byte, ids []wire.DeviceID, leaves []uint32, err error) {
	present := map[DeviceKey]bool{}
	removing := map[AccountKey]bool{}
	for _, a := range remove {
		removing[a] = true
	}
	revoked, err := c.revokedDevicesLocked(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	me := c.AccountKey()
	for _, m := range ch.g.Members() {
		a, d, perr := parseCredential(m.Identity)
		if perr != nil {
			continue
		}
		present[d] = true
		if removing[a] || (a == me && revoked[d]) {
			leaves = append(leaves, m.LeafIndex)
		}
	}
	for a, list := range devs {
		if removing[a] {
			continue
		}
		var need []wire.DeviceEntry
		for _, d := range list {
			if !present[d.DeviceKey] && claimed[DeviceIDOf(d.DeviceKey)] == nil {
				need = append(need, d)
			}
		}
		got, gotIDs, err := c.claimKeyPackages(ctx, s, a, need)
		if err != nil {
			return nil, nil, nil, err
		}
		for i := range got {
			claimed[gotIDs[i]] = got[i]
		}
		for _, d := range list {
			id := DeviceIDOf(d.DeviceKey)
			if !present[d.DeviceKey] && claimed[id] != nil {
				kps = append(kps, claimed[id])
				ids = append(ids, id)
			}
		}
	}
	return kps, ids, leaves, nil
}

// storeNewChatLocked stores a freshly created chat, queues its Welcome and
// a meta message saying what the chat is.
func (c *Client) storeNewChatLocked(ctx context.Context, ch *chat, welcome *outboxEntry) error {
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	if welcome != nil {
		t.addOutbox(welcome)
		if err := c.encryptLocked(t, ch, appContent{Type: "meta", Kind: ch.rec.Kind, Name: ch.rec.Name}); err != nil {
			t.rollback()
			return err
		}
	}
	c.saveChatLocked(t, ch)
	if err := t.commit(); err != nil {
		return err
	}
	c.groups[ch.hash] = ch
	return nil
}

// sendReliably sends one request until the server answers it, retrying the
// same MsgID after a lost connection or a retryable error.
func (c *Client) sendReliably(ctx context.Context, send *wire.Send) error {
	backoff := 100 * time.Millisecond
	for {
		s, err := c.online(ctx)
		if err != nil {
			return err
		}
		_, err = s.call(ctx, send)
		if err == nil {
			if c.testHookSent != nil {
				c.testHookSent(send)
			}
			if c.opts.OnSent != nil {
				c.opts.OnSent(SentInfo{Kind: send.Kind, Group: send.Group, Epoch: send.Epoch, Recipients: send.Recipients, PayloadSize: len(send.Payload)})
			}
			return nil
		}
		if rerr := c.noteRevoked(err); rerr != err {
			return rerr
		}
		var we *wire.Error
		if dead := s.deadErr(); dead != nil && err == dead {
			// The session ended before the answer came (a path handed
			// over, a newer session took the mailbox): its reason is no
			// answer to this Send, which goes again on the next session;
			// the server drops a duplicate by MsgID.
		} else if errors.As(err, &we) && !we.Code.Retryable() {
			return err
		} else {
			c.noteSendRetry(err) // outbox.go: a full server, a quota
		}
		if ctx.Err() != nil {
			return ErrOffline
		}
		wait := backoff
		if we != nil && we.RetryAfter > 0 {
			wait = time.Duration(we.RetryAfter) * time.Second
		}
		select {
		case <-ctx.Done():
			return ErrOffline
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// waitEpoch waits until the inbox has brought a chat to epoch.
func (c *Client) waitEpoch(ctx context.Context, h wire.GroupHash, epoch uint64) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		ch := c.groups[h]
		ok := ch != nil && ch.g.Epoch() >= epoch
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("client: could not catch up with the group (epoch %d); try again later", epoch)
}

// SyncDevices adds this account's devices that are missing from its chats
// (it also runs on every connection).
func (c *Client) SyncDevices(ctx context.Context) { c.syncOwnDevices(ctx) }

// syncOwnDevices adds this account's devices that are missing from our
// chats (a device registered after the chat was made).
// It also settles our stored commits (commit_pending.go) and removes the
// devices this account revoked.
func (c *Client) syncOwnDevices(ctx context.Context) {
	for _, ch := range c.activeChats(ctx) {
		if err := c.commitChange(ctx, ch, nil, nil, false); err != nil && ctx.Err() == nil {
			c.logf("client: adding own devices: %v", err)
		}
	}
}

// activeChats returns the chats this device is still in.
func (c *Client) activeChats(ctx context.Context) []*chat {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil
	}
	defer t.rollback()
	var active []*chat
	for _, ch := range c.allChatsLocked(t) {
		if ch.rec.Active && !ch.hidden() {
			active = append(active, ch)
		}
	}
	return active
}
