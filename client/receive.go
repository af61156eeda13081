package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/wire"
)

// inbox is an unbounded queue of delivered messages, and of the marks that
// end a connection's backlog (sync.go): the session's reader never blocks
// on processing (the server bounds what is unacknowledged).
type inbox struct {
	mu     sync.Mutex // guards the fields below
	queue  []inboxItem
	closed bool
	last   time.Time // when the last Deliver arrived or was processed
	busy   bool      // a Deliver is being processed
	marked bool      // a CaughtUp arrived: the server sends them (sync.go)
	notify chan struct{}
}

// inboxItem is a Deliver that arrived on the connection whose mark is
// conn, or (d nil) that connection's CaughtUp push, which reaches conn.
type inboxItem struct {
	d    *wire.Deliver
	conn *backlogMark
}

func (b *inbox) init() { b.notify = make(chan struct{}, 1) }

func (b *inbox) add(it inboxItem) {
	b.mu.Lock()
	b.queue = append(b.queue, it)
	if it.d != nil {
		b.last = time.Now()
	}
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *inbox) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// pop takes the next item; ok is false when the queue is empty. It drops
// the items of a connection on which processing failed (failConn).
func (b *inbox) pop() (it inboxItem, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.queue) > 0 {
		it = b.queue[0]
		b.queue[0] = inboxItem{}
		b.queue = b.queue[1:]
		if !it.conn.failed {
			b.busy = it.d != nil
			return it, true
		}
	}
	b.busy = false
	return inboxItem{}, false
}

// failConn records that a Deliver of the connection marked m could not be
// stored: that Deliver is not acknowledged, and neither is any later one
// of m's connection (a cumulative acknowledgement would cover it), which
// are dropped unprocessed and, like m, never reached. The server delivers
// them all again, in order, on the next connection (wire.md §6.6).
func (b *inbox) failConn(m *backlogMark) {
	b.mu.Lock()
	m.failed = true
	b.mu.Unlock()
	if s := m.sess.Load(); s != nil {
		s.End(errors.New("client: storing a delivered message failed; reconnecting for it"))
	}
}

// idleFor reports whether nothing arrived or was processed for d.
func (b *inbox) idleFor(d time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) == 0 && !b.busy && time.Since(b.last) >= d
}

// inboxLoop processes delivered messages in mailbox order and acknowledges
// each, on the connection it came on, once its effects are committed to
// the local store. A mark is reached when every Deliver queued before it
// has been processed.
func (c *Client) inboxLoop(ctx context.Context) {
	for {
		it, ok := c.inbox.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-c.inbox.notify:
			}
			continue
		}
		if it.d == nil {
			c.inbox.reach(it.conn)
			continue
		}
		d := it.d
		if c.testHookDeliver != nil {
			c.testHookDeliver(d)
		}
		msgs, err := c.processDeliver(ctx, d)
		c.inbox.mu.Lock()
		c.inbox.last = time.Now()
		c.inbox.mu.Unlock()
		if err != nil {
			// Only a local store failure gets here.
			c.logf("client: storing a delivered message failed: %v", err)
			c.inbox.failConn(it.conn)
			continue
		}
		c.emit(msgs)
		if s := it.conn.sess.Load(); s != nil && s.Alive() {
			if _, err := s.Call(ctx, &wire.AckDelivery{UpToSeq: d.Seq}); err != nil {
				c.logf("client: acknowledging: %v", err)
			}
		}
	}
}

// processDeliver applies one delivered message to the local state in one
// transaction. A message that cannot be processed becomes an error event;
// only a store failure is returned.
func (c *Client) processDeliver(ctx context.Context, d *wire.Deliver) ([]Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil, err
	}
	if !t.markSeen(d.MsgID[:]) {
		return nil, t.commit() // a duplicate of a message already processed
	}
	msgs := c.expirePendingLocked(t, time.Now())
	var touched *chat
	var got []Message
	var perr error
	switch d.Kind {
	case wire.KindWelcome:
		touched, got, perr = c.joinLocked(t, d)
	case wire.KindApplication, wire.KindCommit, wire.KindProposal:
		touched, got, perr = c.receiveLocked(t, d)
	default:
		perr = fmt.Errorf("unknown kind %v", d.Kind)
	}
	msgs = append(msgs, got...)
	if errors.Is(perr, errDeviceListUnavailable) {
		// Not a verdict on the message: it is delivered again on the next
		// connection, when the device list can be fetched.
		t.rollback()
		delete(c.groups, d.Group)
		return nil, perr
	}
	if perr != nil {
		msgs = append(msgs, c.refusedLocked(t, d, perr))
	}
	msgs = append(msgs, c.flushListsLocked(t)...)
	if touched != nil {
		c.saveChatLocked(t, touched)
	}
	if err := t.commit(); err != nil {
		if touched != nil {
			c.dropChatLocked(touched)
		}
		return nil, err
	}
	if touched != nil {
		c.groups[touched.hash] = touched
	}
	if d.Kind == wire.KindWelcome {
		c.poke(c.topupCh)
	}
	return msgs, nil
}

// joinLocked joins a chat from a Welcome with whichever of our stored
// KeyPackages it is for.
func (c *Client) joinLocked(t *tx, d *wire.Deliver) (*chat, []Message, error) {
	var g *mls.Group
	var used *mls.KeyPackageBundle
	var usedRef []byte
	var authErr error // a leaf of the Welcome failed authentication
	t.each("kp", func(k, v []byte) {
		if g != nil {
			return
		}
		var b mls.KeyPackageBundle
		if json.Unmarshal(v, &b) != nil {
			return
		}
		joined, err := mls.JoinFromWelcome(c.cfg, c.mlsID, &b, d.Payload, mls.JoinOptions{})
		if err == nil {
			// The group may keep the bundle's leaf key: do not wipe it.
			g, used, usedRef = joined, &b, append([]byte(nil), k...)
			return
		}
		if errors.Is(err, mls.ErrCredentialRejected) {
			authErr = err
		}
		clear(b.InitPrivateKey)
		clear(b.EncryptionPrivateKey)
	})
	if g == nil && authErr != nil {
		return nil, nil, authErr
	}
	if g == nil {
		return nil, nil, errors.New("the invitation to a chat is not for any key of this device")
	}
	h := groupHash(g.GroupID())
	if h != d.Group {
		return nil, nil, errors.New("the invitation names another group than its envelope")
	}
	if !used.LastResort {
		t.del("kp", usedRef)
	}
	ch := &chat{hash: h, g: g, rec: chatRecord{Active: true}}
	// Until the meta message says otherwise, a chat of two accounts is the
	// direct chat with the other one.
	accts := c.accountsLocked(g)
	ch.rec.Kind = KindGroup
	if len(accts) == 2 {
		for a := range accts {
			if a != c.AccountKey() {
				ch.rec.Kind, ch.rec.Peer = KindDirect, a
			}
		}
	}
	delete(c.groups, h)
	m := Message{Chat: c.chatDisplayLocked(t, ch), Kind: MessageEvent, Time: time.Now().UTC(),
		Text: "joined the chat (end-to-end encrypted with MLS); in it: " + c.describeMembersLocked(t, g)}
	t.addMessage(h[:], &m)
	// Messages of this group that arrived before the Welcome: those of
	// epochs before the one we joined at are not for us.
	if !c.agreedLocked(t, g) {
		// Someone the user never added put them in this chat. A group
		// (more than two accounts now, or once its meta message says so)
		// is an invitation, not a chat (invitations.go); a 1:1 chat is a
		// person who wrote first.
		ch.rec.Stranger = true
		if len(accts) > 2 {
			c.inviteLocked(t, ch)
		}
	}
	msgs := append([]Message{m}, c.drainPendingLocked(t, ch, g.Epoch())...)
	if ch.hidden() {
		return ch, c.visibleLocked(t, ch, msgs), nil
	}
	return ch, msgs, nil
}

// receiveLocked processes a delivered MLS message, or holds it when its
// chat is not here yet (the Welcome is still on the way) or its epoch is
// ahead of the chat's (the commits before it are still on the way).
func (c *Client) receiveLocked(t *tx, d *wire.Deliver) (*chat, []Message, error) {
	gid, epoch, err := peekMLSHeader(d.Payload)
	if err != nil {
		return nil, nil, err
	}
	if groupHash(gid) != d.Group {
		return nil, nil, errors.New("the message names another group than its envelope")
	}
	if epoch > math.MaxInt64 {
		return nil, nil, errors.New("the message's epoch is out of range")
	}
	ch := c.chatLocked(t, d.Group)
	if t.err != nil {
		return nil, nil, nil // the commit reports the store failure
	}
	if ch != nil && ch.rec.Declined {
		return nil, nil, nil // a declined invitation: dropped unread
	}
	if ch != nil && ch.hidden() {
		// A pending invitation: kept in step, shown once accepted.
		touched, _, err := c.receiveVisibleLocked(t, d, ch, epoch)
		return touched, nil, err
	}
	return c.receiveVisibleLocked(t, d, ch, epoch)
}

// receiveVisibleLocked is receiveLocked once the chat is known.
func (c *Client) receiveVisibleLocked(t *tx, d *wire.Deliver, ch *chat, epoch uint64) (*chat, []Message, error) {
	// RFC 9420 §6: a message is processed only in its own epoch; §14: the
	// Delivery Service need not order messages of different senders.
	if ch == nil || (ch.g.Active() && epoch > ch.g.Epoch()) {
		var notice []Message
		if ch != nil && t.countPending(&d.Group) == 0 {
			// Say so: if the change never comes, the server may be
			// withholding it (docs/spec/authentication.md §7).
			m := Message{Chat: c.chatDisplayLocked(t, ch), Kind: MessageEvent, Time: time.Now().UTC(),
				Text: fmt.Sprintf("a message of a later change (epoch %d, this chat is at %d) waits for an earlier change that has not arrived; if this lasts, the server may be withholding it", epoch, ch.g.Epoch())}
			t.addMessage(ch.hash[:], &m)
			notice = append(notice, m)
		}
		return nil, append(notice, c.holdLocked(t, d, epoch)...), nil
	}
	before := ch.g.Epoch()
	touched, msgs, err := c.applyToChatLocked(t, ch, d.Payload)
	if ch.g.Epoch() != before {
		// A merged commit: held messages of the new epoch may apply now.
		msgs = append(msgs, c.drainPendingLocked(t, ch, 0)...)
	}
	return touched, msgs, err
}

// applyToChatLocked processes an MLS message of a chat we are in.
// It returns ch if its state changed (nil if not).
func (c *Client) applyToChatLocked(t *tx, ch *chat, payload []byte) (*chat, []Message, error) {
	before := c.membersLocked(ch.g)
	r, err := ch.g.Process(payload)
	if err != nil {
		return nil, nil, err
	}
	switch r.Kind {
	case mls.KindApplication:
		sender := senderAccount(r)
		var content appContent
		if err := json.Unmarshal(r.Application, &content); err != nil {
			clear(r.Application)
			return ch, nil, errors.New("the message content is not understood by this version")
		}
		clear(r.Application)
		switch content.Type {
		case "meta":
			if content.Kind == KindGroup && validName(content.Name) == nil {
				ch.rec.Kind, ch.rec.Name = KindGroup, content.Name
				if ch.rec.Stranger && !ch.hidden() && !ch.rec.Accepted {
					// A stranger's chat turns out to be a group: an
					// invitation from now on (invitations.go).
					return ch, []Message{c.inviteLocked(t, ch)}, nil
				}
			}
			return ch, nil, nil
		case "text":
			m := Message{Chat: c.chatDisplayLocked(t, ch), From: c.nameOfLocked(t, sender), Text: content.Text,
				Time: time.Now().UTC(), Sent: time.UnixMilli(content.Sent).UTC(), Kind: MessageText}
			t.addMessage(ch.hash[:], &m)
			return ch, []Message{m}, nil
		case "file": // attach_msg.go
			return ch, c.receiveFileLocked(t, ch, sender, &content), nil
		}
		return ch, nil, nil
	case mls.KindCommit:
		if r.Removed {
			m := Message{Chat: c.chatDisplayLocked(t, ch), Kind: MessageEvent, Time: time.Now().UTC(), Text: "you were removed from this chat"}
			t.addMessage(ch.hash[:], &m)
			return ch, []Message{m}, nil
		}
		return ch, c.membershipEventsLocked(t, ch, before), nil
	}
	return ch, nil, nil
}

// senderAccount returns the account of a message's sender as of the epoch
// the message was sent in (mls.Received.Sender), never through the current
// tree: a late message of a past epoch from a removed member is not its
// leaf's successor's (docs/spec/mls-policy.md).
func senderAccount(r *mls.Received) AccountKey {
	if r.Sender == nil {
		return AccountKey{}
	}
	a, _, _ := parseCredential(r.Sender.Identity)
	return a
}

// accountsLocked returns the accounts with a device in g.
func (c *Client) accountsLocked(g *mls.Group) map[AccountKey]bool {
	out := map[AccountKey]bool{}
	for _, m := range g.Members() {
		if a, _, err := parseCredential(m.Identity); err == nil {
			out[a] = true
		}
	}
	return out
}

// memberNamesLocked lists, sorted, the names this user knows the accounts
// in ch's group by, leaving out skip (the zero key leaves out none).
func (c *Client) memberNamesLocked(t *tx, ch *chat, skip AccountKey) []string {
	var names []string
	for a := range c.accountsLocked(ch.g) {
		if a != skip {
			names = append(names, c.nameOfLocked(t, a))
		}
	}
	sort.Strings(names)
	return names
}

// memberKey is one device of one account in a group.
type memberKey struct {
	Account AccountKey `json:"a"`
	Device  DeviceKey  `json:"d"`
}

// membersLocked returns every (account, device) in g.
func (c *Client) membersLocked(g *mls.Group) map[memberKey]bool {
	out := map[memberKey]bool{}
	for _, m := range g.Members() {
		if a, d, err := parseCredential(m.Identity); err == nil {
			out[memberKey{a, d}] = true
		}
	}
	return out
}

// membershipEventsLocked stores an event for every device that entered or
// left ch since before, naming its account and its fingerprint
// (docs/spec/authentication.md §4): nobody joins or leaves unseen.
func (c *Client) membershipEventsLocked(t *tx, ch *chat, before map[memberKey]bool) []Message {
	after := c.membersLocked(ch.g)
	hadAcct, hasAcct := map[AccountKey]bool{}, map[AccountKey]bool{}
	for m := range before {
		hadAcct[m.Account] = true
	}
	for m := range after {
		hasAcct[m.Account] = true
	}
	var texts []string
	for _, m := range sortedMembers(after) {
		if before[m] {
			continue
		}
		name := c.nameOfLocked(t, m.Account)
		if hadAcct[m.Account] {
			texts = append(texts, fmt.Sprintf("%s added device %s", name, Fingerprint(m.Device)))
		} else {
			texts = append(texts, fmt.Sprintf("%s joined (device %s)", name, Fingerprint(m.Device)))
		}
	}
	for _, m := range sortedMembers(before) {
		if after[m] {
			continue
		}
		name := c.nameOfLocked(t, m.Account)
		if m.Device == (DeviceKey{}) {
			if !hasAcct[m.Account] {
				texts = append(texts, name+" left")
			}
			continue
		}
		if hasAcct[m.Account] {
			texts = append(texts, fmt.Sprintf("%s device %s was removed", possessive(name), Fingerprint(m.Device)))
		} else {
			texts = append(texts, fmt.Sprintf("%s left (device %s removed)", name, Fingerprint(m.Device)))
		}
	}
	out := make([]Message, 0, len(texts))
	for _, text := range texts {
		m := Message{Chat: c.chatDisplayLocked(t, ch), Kind: MessageEvent, Time: time.Now().UTC(), Text: text}
		t.addMessage(ch.hash[:], &m)
		out = append(out, m)
	}
	return out
}

// describeMembersLocked names every account of g with its devices'
// fingerprints: "alice (device 1a2b-…), me (device …, device …)".
func (c *Client) describeMembersLocked(t *tx, g *mls.Group) string {
	var parts []string
	var cur AccountKey
	var devs []string
	flush := func() {
		if devs != nil {
			parts = append(parts, fmt.Sprintf("%s (device %s)", c.nameOfLocked(t, cur), strings.Join(devs, ", device ")))
		}
	}
	for _, m := range sortedMembers(c.membersLocked(g)) {
		if m.Account != cur || devs == nil {
			flush()
			cur, devs = m.Account, nil
		}
		devs = append(devs, Fingerprint(m.Device))
	}
	flush()
	return strings.Join(parts, ", ")
}

func sortedMembers(m map[memberKey]bool) []memberKey {
	out := make([]memberKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y memberKey) int {
		if c := bytes.Compare(x.Account[:], y.Account[:]); c != 0 {
			return c
		}
		return bytes.Compare(x.Device[:], y.Device[:])
	})
	return out
}
