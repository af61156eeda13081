package mls

import (
	"bytes"
	"testing"
)

// restoreClient saves and restores x's group, as after a crash.
func restoreClient(t *testing.T, x *client) {
	t.Helper()
	st, err := x.g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if x.g, err = Restore(x.cfg, st); err != nil {
		t.Fatalf("restore: %v", err)
	}
}

func TestRestorePendingCommitThenMerge(t *testing.T) {
	a, b, c := setupGroup(t, true)
	d := newClient(t, "dave", 4)
	res, err := a.g.Commit(CommitOptions{AddKeyPackages: [][]byte{d.kp.Message}, ForcePath: true, RatchetTreeInWelcome: true})
	if err != nil {
		t.Fatal(err)
	}
	// alice crashes before the delivery service accepts her commit.
	restoreClient(t, a)
	if !a.g.HasPendingCommit() || a.g.Epoch() != 1 {
		t.Fatalf("pending commit lost: pending=%v epoch=%d", a.g.HasPendingCommit(), a.g.Epoch())
	}
	for _, x := range []*client{b, c} {
		if _, err := x.g.Process(res.Commit); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if d.g, err = JoinFromWelcome(d.cfg, d.id, d.kp, res.Welcome, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	sameEpoch(t, a, b, c, d)
	if a.g.Epoch() != 2 {
		t.Fatalf("epoch %d after merge", a.g.Epoch())
	}
	sendAll(t, a, b, c, d)
	sendAll(t, d, a, b, c)
}

func TestRestorePendingCommitThenClear(t *testing.T) {
	a, b, c := setupGroup(t, true)
	before := a.g.EpochAuthenticator()
	if _, err := a.g.Commit(CommitOptions{ForcePath: true}); err != nil {
		t.Fatal(err)
	}
	restoreClient(t, a)
	// The delivery service rejected the commit: alice drops it and
	// commits again.
	a.g.ClearPendingCommit()
	if a.g.HasPendingCommit() || !bytes.Equal(a.g.EpochAuthenticator(), before) {
		t.Fatal("clear did not return to the current epoch")
	}
	mustCommit(t, a, CommitOptions{ForcePath: true}, b, c)
	sameEpoch(t, a, b, c)
	sendAll(t, b, a, c)
	// A state without a pending commit restores without one.
	restoreClient(t, b)
	if b.g.HasPendingCommit() {
		t.Fatal("phantom pending commit")
	}
	sendAll(t, b, a, c)
}
