package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// Held messages. The Delivery Service orders each mailbox, but not the
// messages of different senders against each other: a member that was just
// added can get the next commit of the group (sent by another member as
// soon as it processed the commit that added us) before its own Welcome,
// and any member can get a message of epoch n+1 before the commit that
// starts epoch n+1. Such a message is not lost: it is sealed into the
// local store's pending table in the same transaction that marks it seen,
// and only then acknowledged. When the device joins the group, or a commit
// moves the group to a new epoch, the held messages of the group that have
// become processable are applied in arrival order. A message is given up
// (with an error event in the chat) only when its group holds too many or
// it waited too long.

// Bounds of the pending table (variables so that tests can lower them).
var (
	pendingMaxPerGroup = 1000               // held messages of one group
	pendingMaxTotal    = 20000              // held messages of all groups
	pendingMaxAge      = 7 * 24 * time.Hour // how long a message is held
)

// pendingEntry is one held message, sealed in the pending table.
type pendingEntry struct {
	MsgID   wire.MsgID `json:"msg_id"`
	Kind    wire.Kind  `json:"kind"`
	Epoch   uint64     `json:"epoch"`
	Payload []byte     `json:"payload"`
}

// RFC 9420 §6: ProtocolVersion mls10 and the wire formats that carry
// group messages.
const (
	mlsVersion10       = 1
	wirePublicMessage  = 1
	wirePrivateMessage = 2
)

// errMLSHeader: the payload is not an MLS group message.
var errMLSHeader = errors.New("it is not an MLS group message")

// peekMLSHeader reads the group id and epoch of an MLSMessage carrying a
// PublicMessage or PrivateMessage without processing it, so that a message
// can be held until its group and epoch are there. It never panics; any
// other input is errMLSHeader. The message is fully checked when it is
// processed.
func peekMLSHeader(b []byte) (groupID []byte, epoch uint64, err error) {
	// RFC 9420 §6: MLSMessage = version, wire_format, then the message.
	if len(b) < 4 || binary.BigEndian.Uint16(b) != mlsVersion10 {
		return nil, 0, errMLSHeader
	}
	switch binary.BigEndian.Uint16(b[2:]) {
	case wirePublicMessage, wirePrivateMessage: // RFC 9420 §6.2 FramedContent, §6.3 PrivateMessage
	default:
		return nil, 0, errMLSHeader
	}
	// Both start with opaque group_id<V> and uint64 epoch (RFC 9420 §6).
	rest := b[4:]
	n, size, ok := readVarint(rest)
	if !ok || uint64(len(rest)-size) < n+8 {
		return nil, 0, errMLSHeader
	}
	rest = rest[size:]
	return rest[:n:n], binary.BigEndian.Uint64(rest[n:]), nil
}

// readVarint reads an RFC 9420 §2.1.2 variable-length integer: a 2-bit
// length prefix, values in the minimum number of bytes.
func readVarint(b []byte) (v uint64, size int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] >> 6 {
	case 0:
		return uint64(b[0]), 1, true
	case 1:
		if len(b) < 2 {
			return 0, 0, false
		}
		v = uint64(binary.BigEndian.Uint16(b) & 0x3fff)
		return v, 2, v >= 1<<6
	case 2:
		if len(b) < 4 {
			return 0, 0, false
		}
		v = uint64(binary.BigEndian.Uint32(b) & 0x3fffffff)
		return v, 4, v >= 1<<14
	}
	return 0, 0, false // RFC 9420 §2.1.2: prefix 0b11 is invalid
}

// holdLocked stores d in the pending table (it is acknowledged once t
// commits) and enforces the table's bounds.
func (c *Client) holdLocked(t *tx, d *wire.Deliver, epoch uint64) []Message {
	t.addPending(d.Group, epoch, time.Now(), &pendingEntry{MsgID: d.MsgID, Kind: d.Kind, Epoch: epoch, Payload: d.Payload})
	var out []Message
	if over := t.countPending(&d.Group) - pendingMaxPerGroup; over > 0 {
		out = append(out, c.giveUpLocked(t, t.oldestPending(&d.Group, over), "this chat had too many messages waiting", nil)...)
	}
	if over := t.countPending(nil) - pendingMaxTotal; over > 0 {
		out = append(out, c.giveUpLocked(t, t.oldestPending(nil, over), "too many messages were waiting", nil)...)
	}
	return out
}

// expirePendingLocked gives up the held messages older than pendingMaxAge.
func (c *Client) expirePendingLocked(t *tx, now time.Time) []Message {
	ids := t.pendingBefore(now.Add(-pendingMaxAge))
	if len(ids) == 0 {
		return nil
	}
	return c.giveUpLocked(t, ids, fmt.Sprintf("they waited %v for the invitation to the chat or for its earlier changes", pendingMaxAge), nil)
}

// giveUpLocked deletes held messages and records one error event per chat.
// ch, if not nil, is the live chat they belong to.
func (c *Client) giveUpLocked(t *tx, ids []pendingID, why string, ch *chat) []Message {
	count := map[wire.GroupHash]int{}
	var order []wire.GroupHash
	for _, p := range ids {
		t.delPending(p.id)
		if count[p.group] == 0 {
			order = append(order, p.group)
		}
		count[p.group]++
	}
	var out []Message
	for _, h := range order {
		m := Message{Chat: c.chatNameOfLocked(t, h, ch), Kind: MessageError, Time: time.Now().UTC(),
			Text: fmt.Sprintf("%d message(s) could not be read and were given up (%s)", count[h], why)}
		t.addMessage(h[:], &m)
		out = append(out, m)
	}
	return out
}

// drainPendingLocked applies the held messages of ch that its epoch now
// allows, earliest arrival first, until none is left that can be applied.
// Held messages of epochs before floor (the epoch the device joined at)
// can never be read and are dropped silently.
func (c *Client) drainPendingLocked(t *tx, ch *chat, floor uint64) []Message {
	if floor > 0 {
		t.dropPendingBefore(&ch.hash, floor)
	}
	var out []Message
	for t.err == nil {
		if !ch.g.Active() {
			// Removed from the chat: what is still held can never be read.
			if ids := t.pendingOf(&ch.hash); len(ids) > 0 {
				out = append(out, c.giveUpLocked(t, ids, "this device is no longer in the chat", ch)...)
			}
			return out
		}
		id, e, damaged := t.nextPending(&ch.hash, ch.g.Epoch())
		if id == 0 {
			return out
		}
		t.delPending(id)
		if damaged {
			out = append(out, c.skippedLocked(t, ch.hash, ch, "held", errors.New("it was damaged in the local store")))
			continue
		}
		_, msgs, err := c.applyToChatLocked(t, ch, e.Payload)
		out = append(out, msgs...)
		if errors.Is(err, errDeviceListUnavailable) {
			// Not a verdict (auth.go): undo, and process it again later.
			t.fail(err)
			return out
		}
		if err != nil {
			out = append(out, c.refusedLocked(t, &wire.Deliver{Group: ch.hash, Kind: e.Kind}, err))
		}
	}
	return out
}

// skippedLocked records that a message of kind could not be processed; ch,
// if not nil, is the live chat of h.
func (c *Client) skippedLocked(t *tx, h wire.GroupHash, ch *chat, kind string, err error) Message {
	m := Message{Chat: c.chatNameOfLocked(t, h, ch), Kind: MessageError, Time: time.Now().UTC(),
		Text: fmt.Sprintf("a %s message could not be read and was skipped (%v)", kind, err)}
	t.addMessage(h[:], &m)
	return m
}

// chatNameOfLocked is the display name of ch if it is known (a chat being
// joined is not stored yet), else of the stored chat h.
func (c *Client) chatNameOfLocked(t *tx, h wire.GroupHash, ch *chat) string {
	if ch != nil {
		return c.chatDisplayLocked(t, ch)
	}
	return c.chatNameLocked(t, h)
}
