package mls

import (
	"errors"
	"testing"
)

func encrypt(t *testing.T, x *client, msg string) []byte {
	t.Helper()
	ct, err := x.g.Encrypt([]byte(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func wantApplication(t *testing.T, x *client, ct []byte, msg string, epoch uint64, sender uint32) {
	t.Helper()
	r, err := x.g.Process(ct)
	if err != nil {
		t.Fatalf("%s: late message: %v", x.id.Name, err)
	}
	if r.Kind != KindApplication || string(r.Application) != msg || r.Epoch != epoch || r.SenderLeaf != sender {
		t.Fatalf("%s: got %+v", x.id.Name, r)
	}
}

// A message sent just before a commit opens after the commit was merged,
// by a receiver of the commit and by its committer; it opens once.
func TestLateMessageOfPreviousEpoch(t *testing.T) {
	a, b, c := setupGroup(t, true)
	late := encrypt(t, b, "sent before the commit")
	mustCommit(t, a, CommitOptions{ForcePath: true}, b, c)
	if c.g.Epoch() != 2 {
		t.Fatalf("epoch %d", c.g.Epoch())
	}
	wantApplication(t, c, late, "sent before the commit", 1, 1)
	wantApplication(t, a, late, "sent before the commit", 1, 1)
	if _, err := c.g.Process(late); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay of a late message: %v", err)
	}
	// The current epoch still works.
	sendAll(t, b, a, c)
}

// The sender of a late message may have been removed by the commit: it was
// a member in the message's epoch.
func TestLateMessageOfRemovedMember(t *testing.T) {
	a, b, c := setupGroup(t, true)
	late := encrypt(t, b, "last words")
	mustCommit(t, a, CommitOptions{RemoveLeaves: []uint32{1}}, b, c)
	wantApplication(t, c, late, "last words", 1, 1)
}

// Past epochs are kept across a restart.
func TestLateMessageAfterRestore(t *testing.T) {
	a, b, c := setupGroup(t, true)
	late := encrypt(t, a, "before")
	mustCommit(t, b, CommitOptions{ForcePath: true}, a, c)
	restoreClient(t, c)
	wantApplication(t, c, late, "before", 1, 0)
}

func TestPastEpochRejections(t *testing.T) {
	a, b, c := setupGroup(t, true)
	old := encrypt(t, b, "three epochs ago")
	for range 3 {
		mustCommit(t, a, CommitOptions{ForcePath: true}, b, c)
	}
	var ve *ValidationError
	// Default window: two past epochs; epoch 1 is gone from epoch 4.
	if _, err := c.g.Process(old); !errors.Is(err, ErrWrongEpoch) || !errors.As(err, &ve) {
		t.Fatalf("message beyond the window: %v", err)
	}
	if len(c.g.past) != DefaultPastEpochs {
		t.Fatalf("kept %d past epochs", len(c.g.past))
	}
	// A proposal of a past epoch is refused even inside the window.
	a2, b2, c2 := setupGroup(t, true)
	prop, err := b2.g.ProposeRemove(0, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b2.g.proposals = nil // only c2 is to see it, one epoch late
	mustCommit(t, a2, CommitOptions{ForcePath: true}, b2, c2)
	if _, err := c2.g.Process(prop); !errors.Is(err, ErrWrongEpoch) || !errors.As(err, &ve) {
		t.Fatalf("past-epoch proposal: %v", err)
	}
}

func TestNoPastEpochsKept(t *testing.T) {
	a, b, c := setupGroup(t, true)
	c.g.cfg.PastEpochs = -1
	late := encrypt(t, b, "late")
	mustCommit(t, a, CommitOptions{ForcePath: true}, b, c)
	if _, err := c.g.Process(late); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("got %v", err)
	}
	if len(c.g.past) != 0 {
		t.Fatal("past epoch kept")
	}
}
