//go:build !js

package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// chatEpoch returns the epoch of c's chat called name (0 if absent).
func chatEpoch(t *testing.T, c *Client, name string) uint64 {
	t.Helper()
	chats, err := c.Chats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chats {
		if ch.Name == name {
			return ch.Epoch
		}
	}
	return 0
}

func waitChatEpoch(t *testing.T, c *Client, name string, epoch uint64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for chatEpoch(t, c, name) < epoch {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never reached epoch %d", c.Name(), name, epoch)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countPendingRows(t *testing.T, c *Client) int {
	t.Helper()
	var n int
	if err := sqlDB(c).QueryRow(`SELECT count(*) FROM pending`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCommitBeforeWelcomeIsHeld replays the race of
// TestConcurrentCommitsRebase deterministically: Bob adds Dave, Alice then
// commits to everyone including Dave and sends a text. Dave's laptop gets
// Alice's commit and text before Bob's Welcome; his phone gets the Welcome
// first but Alice's text before her commit. Both must hold what they cannot
// read yet, apply it once they can, and end in Alice's epoch reading what
// she sends.
func TestCommitBeforeWelcomeIsHeld(t *testing.T) {
	link, st := startServerStore(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	carol, dave := newUser(t, link, "carol", nil), newUser(t, link, "dave", nil)
	davePhone := newUser(t, link, "dave", dave.AccountSeed())
	for _, p := range [][2]*Client{{alice, bob}, {alice, carol}, {alice, dave}, {bob, dave}} {
		befriend(t, p[0], p[1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Contacts are per device: the phone knows both (a Welcome from a
	// stranger would be an invitation, invitations.go).
	for _, c := range []*Client{alice, bob} {
		if _, err := davePhone.AddContact(ctx, c.Invite(), ""); err != nil {
			t.Fatal(err)
		}
	}
	groupOfTwo(t, ctx, alice, bob)

	// Dave's devices go offline: what follows waits in their mailboxes.
	type device struct {
		home string
		id   DeviceID
	}
	var devs []device
	for _, c := range []*Client{dave, davePhone} {
		devs = append(devs, device{c.opts.Home, DeviceIDOf(c.DeviceKey())})
		c.Close()
	}
	if err := bob.AddToGroup(ctx, "team", "dave"); err != nil {
		t.Fatal(err)
	}
	joinEpoch := chatEpoch(t, bob, "team")
	waitChatEpoch(t, alice, "team", joinEpoch)
	if err := alice.AddToGroup(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "team", "after the reorder")
	waitText(t, bob, "team", "alice", "after the reorder")
	finalEpoch := chatEpoch(t, alice, "team")
	if finalEpoch != joinEpoch+1 {
		t.Fatalf("alice at epoch %d, want %d", finalEpoch, joinEpoch+1)
	}

	for i, dev := range devs {
		entries, err := st.Pending(ctx, store.DeviceID(dev.id), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		// Sort the mailbox into Bob's Welcome, Alice's commit, what Alice
		// sent after it (epoch joinEpoch+1), and the rest.
		var welcome, commit, ahead, rest []*wire.Deliver
		for _, e := range entries {
			d := &wire.Deliver{Seq: e.Seq, MsgID: wire.MsgID(e.MsgID), Group: wire.GroupHash(e.Group), Epoch: e.Epoch, Kind: wire.Kind(e.Kind), Payload: e.Payload}
			switch {
			case d.Kind == wire.KindWelcome:
				welcome = append(welcome, d)
			case d.Kind == wire.KindCommit && d.Epoch == joinEpoch:
				commit = append(commit, d)
			case d.Kind == wire.KindApplication && d.Epoch == finalEpoch:
				ahead = append(ahead, d)
			default:
				rest = append(rest, d)
			}
		}
		if len(welcome) != 1 || len(commit) != 1 || len(ahead) < 2 {
			t.Fatalf("device %d: mailbox lacks the Welcome, Alice's commit or her text: %d entries", i, len(entries))
		}
		var first, then []*wire.Deliver
		if i == 0 {
			// The laptop: the commit and the text before the Welcome.
			first = append(commit, ahead...)
			then = append(welcome, rest...)
		} else {
			// The phone: the Welcome, then the text before the commit.
			first = append(append(welcome, rest...), ahead...)
			then = commit
		}

		c, err := Open(userOptions(t, dev.home, "dave"))
		if err != nil {
			t.Fatal(err)
		}
		// Offline, the device lists must be known already (auth.go).
		seedLists(c, alice, bob, carol)
		var got []Message
		for _, d := range first {
			msgs, err := c.processDeliver(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, msgs...)
		}
		if n := countPendingRows(t, c); n != len(first)-len(welcome)*i-len(rest)*i {
			t.Fatalf("device %d: %d messages held, want %d", i, n, len(first)-len(welcome)*i-len(rest)*i)
		}
		for _, d := range then {
			msgs, err := c.processDeliver(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, msgs...)
		}
		for _, m := range got {
			if m.Kind == MessageError {
				t.Errorf("device %d recorded an error: %+v", i, m)
			}
		}
		if n := countPendingRows(t, c); n != 0 {
			t.Errorf("device %d: %d messages still held", i, n)
		}
		if e := chatEpoch(t, c, "team"); e != finalEpoch {
			t.Fatalf("device %d at epoch %d, want %d", i, e, finalEpoch)
		}
		ms, err := c.Messages(ctx, "team", false)
		if err != nil {
			t.Fatal(err)
		}
		var read bool
		for _, m := range ms {
			read = read || (m.Kind == MessageText && m.From == "alice" && m.Text == "after the reorder")
		}
		if !read {
			t.Fatalf("device %d did not read the held text: %+v", i, ms)
		}

		// Online, the server delivers the same entries again (they are
		// duplicates now), and Dave reads what comes later.
		startUser(t, c)
		text := fmt.Sprintf("later %d", i)
		send(t, alice, "team", text)
		waitText(t, c, "team", "alice", text)
		if err := c.Sync(ctx, 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		ms, _ = c.Messages(ctx, "", false)
		for _, m := range ms {
			if m.Kind == MessageError {
				t.Errorf("device %d recorded an error: %+v", i, m)
			}
		}
	}
}

// fakeGroupMessage is an MLSMessage header (RFC 9420 §6, PrivateMessage)
// of a group id and epoch followed by bytes that are not a valid message.
func fakeGroupMessage(gid []byte, epoch uint64) []byte {
	b := []byte{0, 1, 0, 2, byte(len(gid))}
	b = append(b, gid...)
	b = binary.BigEndian.AppendUint64(b, epoch)
	return append(b, 1, 2, 3, 4)
}

func fakeDeliver(gid []byte, epoch uint64, seq uint64) *wire.Deliver {
	d := &wire.Deliver{Seq: seq, Group: groupHash(gid), Epoch: epoch, Kind: wire.KindApplication, Payload: fakeGroupMessage(gid, epoch)}
	binary.BigEndian.PutUint64(d.MsgID[:], seq)
	return d
}

func TestPeekMLSHeader(t *testing.T) {
	gid := bytes.Repeat([]byte{7}, 32)
	g, e, err := peekMLSHeader(fakeGroupMessage(gid, 42))
	if err != nil || !bytes.Equal(g, gid) || e != 42 {
		t.Fatalf("got %x %d %v", g, e, err)
	}
	// A PublicMessage's FramedContent starts the same way.
	pub := fakeGroupMessage(gid, 9)
	pub[3] = 1
	if _, e, err := peekMLSHeader(pub); err != nil || e != 9 {
		t.Fatalf("public message: %d %v", e, err)
	}
	// Two-byte varint length (RFC 9420 §2.1.2).
	long := bytes.Repeat([]byte{1}, 100)
	b := append([]byte{0, 1, 0, 2, 0x40, 100}, long...)
	b = binary.BigEndian.AppendUint64(b, 5)
	if g, e, err := peekMLSHeader(b); err != nil || !bytes.Equal(g, long) || e != 5 {
		t.Fatalf("long group id: %d %v", e, err)
	}
	bad := [][]byte{
		nil,
		{0, 1},
		{0, 2, 0, 2, 0},                   // another protocol version
		{0, 1, 0, 3, 0},                   // a Welcome
		{0, 1, 0, 2, 0xc0, 0},             // varint prefix 0b11
		{0, 1, 0, 2, 0x40, 5},             // non-minimal varint
		{0, 1, 0, 2, 3, 1, 2, 3, 0, 0, 0}, // epoch cut short
		{0, 1, 0, 2, 0x80, 0, 0},          // varint cut short
	}
	for i, m := range bad {
		if _, _, err := peekMLSHeader(m); err == nil {
			t.Errorf("bad header %d accepted", i)
		}
	}
	// Every prefix of a valid header is refused without a panic.
	full := fakeGroupMessage(gid, 1)
	for n := range 4 + 1 + 32 + 8 {
		if _, _, err := peekMLSHeader(full[:n]); err == nil {
			t.Errorf("prefix %d accepted", n)
		}
	}
}

// TestPendingBounds: messages of a group this device never joins are held
// silently, and given up with one error event when the group holds too
// many or they are too old.
func TestPendingBounds(t *testing.T) {
	home := t.TempDir()
	link := ServerLink{Key: securechan.ServerPublic{1}, Addrs: []string{"127.0.0.1:1"}}
	c, err := Init(InitOptions{Options: userOptions(t, home, "x"), Server: link, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	oldMax, oldAge := pendingMaxPerGroup, pendingMaxAge
	t.Cleanup(func() { pendingMaxPerGroup, pendingMaxAge = oldMax, oldAge })
	pendingMaxPerGroup = 3
	ctx := context.Background()
	gidA, gidB := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	deliver := func(d *wire.Deliver) []Message {
		t.Helper()
		msgs, err := c.processDeliver(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	for i := range 3 {
		if msgs := deliver(fakeDeliver(gidA, 1, uint64(i+1))); len(msgs) != 0 {
			t.Fatalf("holding recorded %+v", msgs)
		}
	}
	// The same message again is a duplicate: not held twice.
	deliver(fakeDeliver(gidA, 1, 1))
	if n := countPendingRows(t, c); n != 3 {
		t.Fatalf("%d held, want 3", n)
	}
	// The held message is sealed in the store.
	var sealed []byte
	if err := sqlDB(c).QueryRow(`SELECT v FROM pending LIMIT 1`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, gidA) {
		t.Fatal("a held message is stored in clear")
	}
	msgs := deliver(fakeDeliver(gidA, 1, 4))
	if len(msgs) != 1 || msgs[0].Kind != MessageError || !strings.Contains(msgs[0].Text, "1 message(s) could not be read and were given up") {
		t.Fatalf("over the bound: %+v", msgs)
	}
	if n := countPendingRows(t, c); n != 3 {
		t.Fatalf("%d held, want 3", n)
	}

	// Expiry: everything held so far is older than a negative age.
	pendingMaxAge = -time.Hour
	msgs = deliver(fakeDeliver(gidB, 1, 5))
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "3 message(s) could not be read and were given up") {
		t.Fatalf("expiry: %+v", msgs)
	}
	if n := countPendingRows(t, c); n != 1 {
		t.Fatalf("%d held after expiry, want the one of group B", n)
	}
}
