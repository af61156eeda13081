package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Safety numbers over device lists, contact verification, and the events
// that show device list changes (docs/spec/authentication.md §4, §5).

// ErrSafetyChanged: a verified contact's safety number is not the one the
// user verified (their devices or account key changed).
var ErrSafetyChanged = errors.New("client: the safety number changed since you verified this contact")

// SafetyNumber returns the safety number of this user and a contact,
// covering both accounts' keys and their signed device lists (fetched when
// online, else the newest ones this client saw). Both see the same number;
// if it differs, someone swapped keys or devices.
func (c *Client) SafetyNumber(ctx context.Context, name string) (SafetyNumber, error) {
	ct, err := c.Contact(ctx, name)
	if err != nil {
		return SafetyNumber{}, err
	}
	return c.safetyWith(ctx, ct.Account)
}

func (c *Client) safetyWith(ctx context.Context, peer AccountKey) (SafetyNumber, error) {
	mine, err := c.currentDevices(ctx, c.AccountKey())
	if err != nil {
		return SafetyNumber{}, err
	}
	theirs, err := c.currentDevices(ctx, peer)
	if err != nil {
		return SafetyNumber{}, err
	}
	sn := safetyNumber(c.AccountKey(), peer, mine, theirs)
	sn.Devices = mine != nil && theirs != nil
	return sn, nil
}

// currentDevices is the device keys on a's list: fetched when online,
// else cached; nil when it is not known (offline, never fetched). A
// rollback or a bad list is an error.
func (c *Client) currentDevices(ctx context.Context, a AccountKey) ([]DeviceKey, error) {
	c.sessMu.Lock()
	s := c.sess
	c.sessMu.Unlock()
	var l *DeviceList
	if s != nil && s.alive() {
		var err error
		if l, err = c.fetchDeviceList(ctx, s, a); err != nil && !errors.Is(err, errDeviceListUnavailable) {
			c.flushNotices(ctx)
			return nil, fmt.Errorf("client: WARNING: %w", err)
		}
		c.flushNotices(ctx)
	}
	if l == nil {
		kl := c.lists.get(a)
		if kl == nil {
			return nil, nil
		}
		l = &kl.List
	}
	out := make([]DeviceKey, 0, len(l.Devices))
	for _, d := range l.Devices {
		out = append(out, d.Key)
	}
	return out, nil
}

// Verify marks a contact verified: the user compared the safety number
// with them (in person, or by a channel they trust). From then on, any
// change of the contact's devices or keys is a loud warning in every chat
// with them. It returns the number that was verified.
func (c *Client) Verify(ctx context.Context, name string) (SafetyNumber, error) {
	ct, err := c.Contact(ctx, name)
	if err != nil {
		return SafetyNumber{}, err
	}
	if err := c.WaitOnline(ctx); err != nil {
		return SafetyNumber{}, fmt.Errorf("client: verifying needs the contact's current devices: connect to the server first: %w", err)
	}
	sn, err := c.safetyWith(ctx, ct.Account)
	if err != nil {
		return SafetyNumber{}, err
	}
	if !sn.Devices {
		return SafetyNumber{}, errors.New("client: the device lists are not known yet; connect to the server and try again")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return SafetyNumber{}, err
	}
	ct.Verified, ct.VerifiedNumber = true, sn.Digits
	t.put("contact", ct.Account[:], ct)
	m := Message{Chat: ct.Name, Kind: MessageEvent, Time: time.Now().UTC(), Text: fmt.Sprintf("you verified %s (safety number %s)", ct.Name, sn.Digits)}
	c.addToPeerChatsLocked(t, ct.Account, &m)
	return sn, t.commit()
}

// VerifiedState says whether a contact is verified and whether the safety
// number still matches what the user verified.
func (c *Client) VerifiedState(ctx context.Context, name string) (verified, changed bool, err error) {
	ct, err := c.Contact(ctx, name)
	if err != nil {
		return false, false, err
	}
	if !ct.Verified {
		return false, false, nil
	}
	sn, err := c.safetyWith(ctx, ct.Account)
	if err != nil {
		return true, true, err
	}
	return true, sn.Digits != ct.VerifiedNumber, nil
}

// flushNotices stores the pending device list notices in their own
// transaction (when no delivery is being processed).
func (c *Client) flushNotices(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return
	}
	msgs := c.flushListsLocked(t)
	if t.commit() == nil {
		c.emit(msgs)
	}
}

// flushListsLocked stores the newly verified device lists and turns the
// pending notices into events in every chat with the account concerned:
// "alice's devices changed", loud when alice was verified, and a warning
// for a rollback.
func (c *Client) flushListsLocked(t *tx) []Message {
	c.lists.mu.Lock()
	notices := c.lists.notices
	c.lists.notices = nil
	for a := range c.lists.dirty {
		if kl := c.lists.known[a]; kl != nil {
			t.put("devlist", a[:], kl)
		}
	}
	clear(c.lists.dirty)
	c.lists.mu.Unlock()
	var out []Message
	for _, n := range notices {
		name := c.nameOfLocked(t, n.Account)
		var ct Contact
		verified := t.get("contact", n.Account[:], &ct) && ct.Verified
		var text string
		if n.Rollback != 0 {
			text = fmt.Sprintf("WARNING: the server sent an older list of %s's devices (version %d, you already saw version %d) and it was refused: the server may be trying to bring back a removed device", possessive(name), n.Rollback, n.Old.Version)
		} else {
			text = fmt.Sprintf("%s devices changed: %s", possessive(name), describeChange(&n.Old, &n.New))
			if verified {
				text = fmt.Sprintf("WARNING: %s since you verified %s; the safety number changed. Compare it again ('samizdat safety %s') and run 'samizdat verify %s' if it matches", text, name, name, name)
			} else {
				text += " (compare safety numbers if you did not expect this)"
			}
		}
		kind := MessageEvent
		if strings.HasPrefix(text, "WARNING") {
			kind = MessageError
		}
		m := Message{Chat: name, Kind: kind, Time: time.Now().UTC(), Text: text}
		out = append(out, c.addToPeerChatsLocked(t, n.Account, &m)...)
	}
	return out
}

// addToPeerChatsLocked stores m in every active chat that has a device of
// account a (or, if none, under the account itself so that it is listed).
func (c *Client) addToPeerChatsLocked(t *tx, a AccountKey, m *Message) []Message {
	var out []Message
	for _, ch := range c.allChatsLocked(t) {
		if !ch.rec.Active || ch.hidden() || (!c.accountsLocked(ch.g)[a] && ch.rec.Peer != a) {
			continue
		}
		cm := *m
		cm.Chat = c.chatDisplayLocked(t, ch)
		t.addMessage(ch.hash[:], &cm)
		out = append(out, cm)
	}
	if len(out) == 0 {
		t.addMessage(a[:], m)
		out = append(out, *m)
	}
	return out
}

func possessive(name string) string {
	if name == "me" {
		return "your"
	}
	return name + "'s"
}

// describeChange lists the devices added and removed between two lists.
func describeChange(old, cur *DeviceList) string {
	var parts []string
	for _, d := range cur.Devices {
		if !old.Has(d.Key) {
			parts = append(parts, "added device "+Fingerprint(d.Key))
		}
	}
	for _, d := range old.Devices {
		if !cur.Has(d.Key) {
			parts = append(parts, "removed device "+Fingerprint(d.Key))
		}
	}
	if len(parts) == 0 {
		return "no device added or removed"
	}
	return strings.Join(parts, ", ")
}
