package mls

import (
	"errors"
	"testing"
	"time"
)

// attributed returns the identity a receiver shows as the sender of r.
func attributed(t *testing.T, x *client, r *Received) string {
	t.Helper()
	if r.Sender == nil {
		t.Fatalf("%s: message without a sender", x.id.Name)
	}
	return string(r.Sender.Identity)
}

// forgeWithKey is a PrivateMessage claiming leaf `as` in insider's current
// epoch, signed with signer (a removed member's key): what a removed
// member could send if any insider leaked it the epoch's secrets.
func forgeWithKey(t *testing.T, insider *client, as uint32, signer []byte, text string) []byte {
	t.Helper()
	return forgePrivate(t, insider.g, insider.g.secrets.Clone(), as, signer, text)
}

// TestAdversaryRemovedMemberSpeaksAsSuccessor: bob is removed at epoch
// N=2 and dave takes bob's leaf at epoch 3. A message bob encrypts under
// epoch 1's keys (before or after his removal) is bob's, never dave's;
// anything from bob claiming epoch 2 or later is refused
// (docs/spec/mls-policy.md, "Senders are judged in their own epoch").
func TestAdversaryRemovedMemberSpeaksAsSuccessor(t *testing.T) {
	a, b, c := setupGroup(t, true)
	bobLeaf := b.g.OwnLeafIndex()
	before := encrypt(t, b, "sent before removal")
	bobAtEpoch1 := b.g.clone() // a removed member keeps its old state
	mustCommit(t, a, CommitOptions{RemoveLeaves: []uint32{bobLeaf}}, c)
	removedAt := a.g.Epoch()
	b.g = bobAtEpoch1
	after := encrypt(t, b, "sent after removal, with old keys")
	atN := forgeWithKey(t, c, bobLeaf, b.id.SignaturePrivateKey, "claims epoch N")

	dave := newClient(t, "dave", 4)
	res := mustCommit(t, a, CommitOptions{AddKeyPackages: [][]byte{dave.kp.Message}, RatchetTreeInWelcome: true}, c)
	var err error
	if dave.g, err = JoinFromWelcome(dave.cfg, dave.id, dave.kp, res.Welcome, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if dave.g.OwnLeafIndex() != bobLeaf {
		t.Fatalf("dave is at leaf %d, want bob's old leaf %d", dave.g.OwnLeafIndex(), bobLeaf)
	}
	for _, msg := range [][]byte{before, after} {
		r, err := c.g.Process(msg)
		if err != nil {
			t.Fatalf("late message of epoch 1: %v", err)
		}
		if got := attributed(t, c, r); got != "bob" {
			t.Fatalf("a message of epoch %d from bob's leaf is shown as from %q", r.Epoch, got)
		}
	}
	// Claiming epoch N (kept as a past epoch now): bob's leaf was blank.
	if _, err := c.g.Process(atN); err == nil {
		t.Fatalf("a message of epoch %d from the member removed at that epoch was accepted", removedAt)
	}
	// Claiming the current epoch, where dave holds the leaf: bob's key
	// does not verify as dave's.
	now := forgeWithKey(t, c, bobLeaf, b.id.SignaturePrivateKey, "claims the current epoch")
	if _, err := c.g.Process(now); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bob's message in dave's leaf: got %v, want ErrBadSignature", err)
	}
	// dave's own messages are dave's.
	r, err := c.g.Process(encrypt(t, dave, "hi"))
	if err != nil || attributed(t, c, r) != "dave" {
		t.Fatalf("dave's message: %v", err)
	}
}

// TestAdversaryPastEpochExpires: a past epoch is kept for
// Config.PastEpochMaxAge by the injected clock, then refused, whatever
// the count window says.
func TestAdversaryPastEpochExpires(t *testing.T) {
	a, b, c := setupGroup(t, true)
	now := time.Unix(1_700_000_000, 0)
	c.cfg.Now = func() time.Time { return now }
	c.g.cfg.Now = c.cfg.Now
	early, late := encrypt(t, b, "early"), encrypt(t, b, "late")
	mustCommit(t, a, CommitOptions{ForcePath: true}, b, c)
	now = now.Add(DefaultPastEpochMaxAge - time.Minute)
	if _, err := c.g.Process(early); err != nil {
		t.Fatalf("within the age bound: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := c.g.Process(late); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("past epoch older than PastEpochMaxAge: got %v, want ErrWrongEpoch", err)
	}
	// The age is kept across a restart.
	restoreClient(t, c)
	if _, err := c.g.Process(late); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("after restore: got %v, want ErrWrongEpoch", err)
	}
}
