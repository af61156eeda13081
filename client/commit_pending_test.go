//go:build !js

package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
)

var errSimulatedCrash = errors.New("simulated crash")

// crashOnce is a test hook that fails with errSimulatedCrash the first
// time it runs, and lets every later run pass.
func crashOnce() func() error {
	var crashed atomic.Bool
	return func() error {
		if crashed.CompareAndSwap(false, true) {
			return errSimulatedCrash
		}
		return nil
	}
}

// groupOfTwo makes alice's group "team" with bob in it and checks that bob
// reads alice's welcome in it.
func groupOfTwo(t *testing.T, ctx context.Context, alice, bob *Client) {
	t.Helper()
	newGroup(t, ctx, alice, "team", "bob")
	send(t, alice, "team", "welcome bob")
	waitText(t, bob, "team", "alice", "welcome bob")
}

// reopen closes c (dropping whatever it held only in memory, as a crash
// would), opens its home again, lets setup adjust it and starts it.
func reopen(t *testing.T, c *Client, setup func(*Client)) *Client {
	t.Helper()
	home, name := c.opts.Home, c.Name()
	c.Close()
	c2, err := Open(userOptions(t, home, name))
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(c2)
	}
	startUser(t, c2)
	return c2
}

// storedPendingCommits counts the stored commits awaiting a verdict.
func storedPendingCommits(t *testing.T, c *Client) int {
	t.Helper()
	var n int
	if err := sqlDB(c).QueryRow(`SELECT count(*) FROM kv WHERE ns = 'pcommit'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// allTalk checks that every client reads what every other sends in chat.
func allTalk(t *testing.T, chat string, cs ...*Client) {
	t.Helper()
	for _, from := range cs {
		text := "from " + from.Name() + " " + time.Now().Format(time.RFC3339Nano)
		send(t, from, chat, text)
		for _, to := range cs {
			if to != from {
				waitText(t, to, chat, from.Name(), text)
			}
		}
	}
}

// The client dies after the server accepted its commit (adding carol) and
// before merging it. Bob is already in the new epoch. On restart the stored
// commit is resent with its MsgID, acknowledged again, merged, and its
// Welcome goes out: all three talk. The commit is settled either on
// connection or, if the user sends first, before the text is encrypted
// (so that carol can read it).
func TestCrashAfterCommitAcked(t *testing.T) {
	for _, sendFirst := range []bool{false, true} {
		name := "settled on connection"
		if sendFirst {
			name = "settled by the first send"
		}
		t.Run(name, func(t *testing.T) { crashAfterCommitAcked(t, sendFirst) })
	}
}

func crashAfterCommitAcked(t *testing.T, sendFirst bool) {
	link := startServer(t)
	alice, bob, carol := threeFriends(t, link)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	groupOfTwo(t, ctx, alice, bob)
	before := chatEpoch(t, alice, "team")

	alice.testHookCommitAcked = crashOnce()
	if err := alice.AddToGroup(ctx, "team", "carol"); !errors.Is(err, errSimulatedCrash) {
		t.Fatalf("AddToGroup: %v, want the simulated crash", err)
	}
	// The server accepted it: bob follows the commit to the next epoch,
	// while alice's stored group is still one epoch behind.
	waitChatEpoch(t, bob, "team", before+1)
	if got := chatEpoch(t, alice, "team"); got != before {
		t.Fatalf("alice at epoch %d before the restart, want %d (not merged)", got, before)
	}
	if n := storedPendingCommits(t, alice); n != 1 {
		t.Fatalf("%d stored pending commits, want 1", n)
	}

	alice = reopen(t, alice, func(c *Client) { c.testNoSyncOnConnect = sendFirst })
	if sendFirst {
		send(t, alice, "team", "first after the restart")
		waitText(t, carol, "team", "alice", "first after the restart")
		waitText(t, bob, "team", "alice", "first after the restart")
	}
	waitChatEpoch(t, alice, "team", before+1)
	e2etest.Eventually(t, "the pending commit to be settled", 30*time.Second, func() bool { return storedPendingCommits(t, alice) == 0 })
	if got := alice.rebases.Load(); got != 0 {
		t.Fatalf("%d rebases: the accepted commit must be merged, not rebuilt", got)
	}
	allTalk(t, "team", alice, bob, carol)
	for _, c := range []*Client{alice, bob, carol} {
		if got := chatEpoch(t, c, "team"); got != before+1 {
			t.Errorf("%s at epoch %d, want %d", c.Name(), got, before+1)
		}
	}
}

// The client stores its commit (adding carol) and dies before sending it;
// meanwhile bob's commit (adding dave) wins that epoch. On restart the
// stored commit is refused as stale, dropped, and the change is rebuilt on
// top of bob's: all four talk.
func TestCrashBeforeCommitSentLosesRace(t *testing.T) {
	link := startServer(t)
	alice, bob, carol, dave := fourFriends(t, link)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	groupOfTwo(t, ctx, alice, bob)
	before := chatEpoch(t, alice, "team")

	alice.testHookCommitStored = crashOnce()
	if err := alice.AddToGroup(ctx, "team", "carol"); !errors.Is(err, errSimulatedCrash) {
		t.Fatalf("AddToGroup: %v, want the simulated crash", err)
	}
	alice.Close()
	if err := bob.AddToGroup(ctx, "team", "dave"); err != nil {
		t.Fatal(err)
	}
	alice = reopen(t, alice, nil)
	waitChatEpoch(t, alice, "team", before+2)
	e2etest.Eventually(t, "the pending commit to be settled", 30*time.Second, func() bool { return storedPendingCommits(t, alice) == 0 })
	allTalk(t, "team", alice, bob, carol, dave)
}
