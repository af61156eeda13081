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
	st := &commitState{s: s, ch: ch, isNew: isNew,
		want: change{Add: appendNew(nil, append(add, c.AccountKey())...), Remove: appendNew(nil, remove...)},
		devs: map[AccountKey][]wire.DeviceEntry{}, claimed: map[wire.DeviceID][]byte{}}
	for range maxRebases {
		next, err := c.commitAttempt(ctx, st)
		if err != nil {
			return err
		}
		if !next.retry {
			if next.flush {
				// Return once the Welcome is with the server, so that what
				// the caller sends next cannot overtake it. If the
				// connection drops, it stays in the outbox and goes out later.
				c.Flush(ctx)
			}
			return nil
		}
		if next.rebase {
			c.rebases.Add(1)
			c.logf("client: commit lost the race for epoch %d; rebasing on %d", next.lost, next.epoch)
		}
		if err := c.waitEpoch(ctx, st.ch.hash, next.epoch); err != nil {
			return err
		}
	}
	return errors.New("client: the group kept changing under this change; try again in a moment")
}

// commitState is what one commitChange carries from attempt to attempt.
type commitState struct {
	s       *session
	ch      *chat // the chat, replaced by the current record after a rebase
	isNew   bool
	want    change
	devs    map[AccountKey][]wire.DeviceEntry // verified devices per account, fetched once
	claimed map[wire.DeviceID][]byte          // KeyPackages claimed, reused across rebases
}

// commitNext says what commitChange does after an attempt.
type commitNext struct {
	retry bool   // wait (outside the lock) until epoch is processed, then try again
	epoch uint64 // with retry
	flush bool   // done with a commit: flush the outbox (the Welcome) before returning

	rebase bool   // our commit for epoch `lost` lost the race
	lost   uint64 // with rebase
}

// commitAttempt is one attempt of commitChange, holding c.mu throughout.
func (c *Client) commitAttempt(ctx context.Context, st *commitState) (commitNext, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !st.isNew {
		if wait, err := c.settleOursLocked(ctx, st); err != nil || wait > 0 {
			return commitNext{retry: err == nil, epoch: wait}, err
		}
	}
	kps, newIDs, removeLeaves, err := c.planAttemptLocked(ctx, st)
	if err != nil {
		return commitNext{}, err
	}
	if err := c.unreachableAddLocked(st, newIDs); err != nil {
		return commitNext{}, err
	}
	if len(kps) == 0 && len(removeLeaves) == 0 {
		return commitNext{}, c.nothingToCommitLocked(ctx, st)
	}
	send, rec, err := c.buildCommitLocked(ctx, st, kps, newIDs, removeLeaves)
	if err != nil {
		return commitNext{}, err
	}
	// A new group's first commit has no recipients: it only registers
	// the group with the Delivery Service (docs/spec/wire.md 6.3).
	err = c.sendReliably(ctx, send)
	if err == nil && c.testHookCommitAcked != nil {
		if herr := c.testHookCommitAcked(); herr != nil {
			return commitNext{}, herr // a simulated crash: nothing more is done
		}
	}
	if err != nil {
		return c.commitRefusedLocked(ctx, st, rec.Epoch, err)
	}
	if st.isNew {
		err = c.mergeNewChatLocked(ctx, st.ch, rec)
	} else {
		err = c.mergePendingLocked(ctx, st.ch, rec)
	}
	return commitNext{flush: err == nil}, err
}

// settleOursLocked settles an earlier commit of ours that may still wait
// for its verdict; a lost one's change joins ours. A positive wait is the
// epoch to wait for before trying again.
func (c *Client) settleOursLocked(ctx context.Context, st *commitState) (wait uint64, err error) {
	if cur := c.groups[st.ch.hash]; cur != nil {
		st.ch = cur
	}
	lost, wait, err := c.settleLocked(ctx, st.ch)
	if err != nil {
		return 0, err
	}
	if cur := c.groups[st.ch.hash]; cur != nil {
		st.ch = cur
	}
	if lost != nil {
		st.want.merge(*lost) // rebase that change along with ours
	}
	return wait, nil
}

// planAttemptLocked fetches the verified devices of the accounts to add
// (once) and plans the commit: KeyPackages to add, their devices, leaves
// to remove.
func (c *Client) planAttemptLocked(ctx context.Context, st *commitState) (kps [][]byte, ids []wire.DeviceID, leaves []uint32, err error) {
	for _, a := range st.want.Add {
		if _, ok := st.devs[a]; ok {
			continue
		}
		if st.devs[a], err = c.verifiedDevices(ctx, st.s, a); err != nil {
			return nil, nil, nil, err
		}
	}
	kps, ids, leaves, err = c.planChangeLocked(ctx, st.s, st.ch, st.devs, st.want.Remove, st.claimed)
	if err != nil {
		return nil, nil, nil, c.forgedKeysLocked(ctx, st.ch, st.isNew, err)
	}
	return kps, ids, leaves, nil
}

// errNoKeysToAdd: a group change would add an account of which no device
// is in the group and none has a KeyPackage on the server, e.g. a contact
// made offline with 'samizdat init' who never connected since.
var errNoKeysToAdd = errors.New("client: the contact has no device with keys on the server yet (it has never been online); ask them to open samizdat once so it registers and uploads keys, then add them again")

// unreachableAddLocked refuses a group change that cannot add an account
// it should add: without it the change found nothing to commit for them
// and reported success while they were never added.
func (c *Client) unreachableAddLocked(st *commitState, newIDs []wire.DeviceID) error {
	if st.ch.rec.Kind != KindGroup {
		return nil // a direct chat says so in nothingToCommitLocked
	}
	present := c.accountsLocked(st.ch.g)
	adding := map[wire.DeviceID]bool{}
	for _, id := range newIDs {
		adding[id] = true
	}
	for _, a := range st.want.Add {
		if a == c.AccountKey() || present[a] {
			continue
		}
		if !slices.ContainsFunc(st.devs[a], func(d wire.DeviceEntry) bool { return adding[DeviceIDOf(d.DeviceKey)] }) {
			return errNoKeysToAdd
		}
	}
	return nil
}

// nothingToCommitLocked ends a change that needs no commit: a new chat is
// stored as it is (a direct chat needs the contact's devices).
func (c *Client) nothingToCommitLocked(ctx context.Context, st *commitState) error {
	if st.isNew && st.ch.rec.Kind == KindDirect {
		return errors.New("client: the contact has no device with keys left on the server; ask them to open samizdat once so it registers and uploads keys, then send again")
	}
	if st.isNew {
		return c.storeNewChatLocked(ctx, st.ch, nil)
	}
	return nil
}

// buildCommitLocked builds the commit and its Send; an existing chat's is
// stored before it is sent (commit_pending.go).
func (c *Client) buildCommitLocked(ctx context.Context, st *commitState, kps [][]byte, newIDs []wire.DeviceID, removeLeaves []uint32) (*wire.Send, *pendingCommitRec, error) {
	ch := st.ch
	before := c.membersLocked(ch.g)
	_, recipients := c.otherMembers(ch.g)
	epoch := ch.g.Epoch()
	res, err := ch.g.Commit(mls.CommitOptions{AddKeyPackages: kps, RemoveLeaves: removeLeaves, RatchetTreeInWelcome: true})
	if err != nil {
		return nil, nil, fmt.Errorf("client: building the group change: %w", err)
	}
	if c.testHookCommitBuilt != nil {
		c.testHookCommitBuilt()
	}
	send := &wire.Send{MsgID: randomMsgID(), Group: ch.hash, Epoch: epoch, Kind: wire.KindCommit, Recipients: recipients, Payload: res.Commit}
	rec := &pendingCommitRec{MsgID: send.MsgID, Epoch: epoch, Recipients: recipients, Commit: res.Commit,
		Welcome: res.Welcome, WelcomeTo: newIDs, Change: st.want, BeforeDevices: keysOf(before), Built: time.Now().Unix()}
	if st.isNew {
		return send, rec, nil
	}
	if err := c.storePendingCommitLocked(ctx, ch, rec); err != nil {
		return nil, nil, err
	}
	if c.testHookCommitStored != nil {
		if herr := c.testHookCommitStored(); herr != nil {
			return nil, nil, herr // a simulated crash before the send
		}
	}
	return send, rec, nil
}

// commitRefusedLocked handles a commit the server did not accept: on
// StaleEpoch it drops the commit and asks for a rebase on the winning
// epoch; otherwise the commit stays stored when there is no verdict yet
// (offline, cancelled, revoked) and is dropped when there is one.
func (c *Client) commitRefusedLocked(ctx context.Context, st *commitState, epoch uint64, err error) (commitNext, error) {
	ch := st.ch
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeStaleEpoch {
		if st.isNew {
			ch.g.ClearPendingCommit()
			return commitNext{}, errors.New("client: the new chat's id collided on the server; try again")
		}
		if derr := c.dropPendingCommitLocked(ctx, ch); derr != nil {
			return commitNext{}, derr
		}
		if we.CurrentEpoch < epoch {
			return commitNext{}, errors.New("client: the server forgot this group's history (its epoch went back); tell the server's operator")
		}
		return commitNext{retry: true, epoch: we.CurrentEpoch, rebase: true, lost: epoch}, nil
	}
	if st.isNew {
		ch.g.ClearPendingCommit()
		return commitNext{}, userError("changing the group", err)
	}
	if !settledByError(err) {
		// No verdict (offline, cancelled, revoked): the commit stays
		// stored and is settled on the next connection.
		return commitNext{}, userError("changing the group (it is settled on the next connection)", err)
	}
	if derr := c.dropPendingCommitLocked(ctx, ch); derr != nil {
		return commitNext{}, derr
	}
	return commitNext{}, userError("changing the group", err)
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
	retry := newBackoff(10 * time.Second)
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
		var retryAfter time.Duration // the server's, else the backoff's
		if we != nil {
			retryAfter = time.Duration(we.RetryAfter) * time.Second
		}
		if !retry.sleep(ctx, retryAfter) {
			return ErrOffline
		}
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
	var active []*chat
	c.readLocked(ctx, func(t *tx) error {
		for _, ch := range c.allChatsLocked(t) {
			if ch.rec.Active && !ch.hidden() {
				active = append(active, ch)
			}
		}
		return nil
	})
	return active
}
