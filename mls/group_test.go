package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// detRand is a deterministic randomness source for reproducible tests.
func detRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

func testConfig(seed uint64) Config {
	return Config{Rand: detRand(seed), Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
}

type client struct {
	id  *Identity
	kp  *KeyPackageBundle
	g   *Group
	cfg Config
}

func newClient(t *testing.T, name string, seed uint64) *client {
	t.Helper()
	return clientWith(t, testConfig(seed), []byte(name))
}

// clientWith makes a client named name with a fresh identity and
// KeyPackage under cfg.
func clientWith(t *testing.T, cfg Config, name []byte) *client {
	t.Helper()
	id, err := NewIdentity(cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := id.NewKeyPackage(cfg, KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &client{id: id, kp: kp, cfg: cfg}
}

func mustCommit(t *testing.T, c *client, opts CommitOptions, others ...*client) *CommitResult {
	t.Helper()
	res, err := c.g.Commit(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		if _, err := o.g.Process(res.Commit); err != nil {
			t.Fatalf("processing commit: %v", err)
		}
	}
	if err := c.g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	return res
}

// cachedRefs names every proposal x has cached, to commit them all.
func cachedRefs(x *client) [][]byte {
	var refs [][]byte
	for _, p := range x.g.CachedProposals() {
		refs = append(refs, p.Ref)
	}
	return refs
}

// deliver has each of to process msg, which must succeed.
func deliver(t *testing.T, msg []byte, to ...*client) {
	t.Helper()
	for _, x := range to {
		if _, err := x.g.Process(msg); err != nil {
			t.Fatalf("%s processing: %v", x.id.Name, err)
		}
	}
}

func sameEpoch(t *testing.T, cs ...*client) {
	t.Helper()
	for _, c := range cs[1:] {
		if c.g.Epoch() != cs[0].g.Epoch() || !bytes.Equal(c.g.EpochAuthenticator(), cs[0].g.EpochAuthenticator()) {
			t.Fatalf("members disagree on the epoch: %d vs %d", c.g.Epoch(), cs[0].g.Epoch())
		}
	}
}

func sendAll(t *testing.T, from *client, to ...*client) {
	t.Helper()
	msg := []byte("hello from " + string(from.id.Name))
	ct, err := from.g.Encrypt(msg, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range to {
		r, err := o.g.Process(ct)
		if err != nil {
			t.Fatalf("%s reading %s: %v", o.id.Name, from.id.Name, err)
		}
		if r.Kind != KindApplication || !bytes.Equal(r.Application, msg) || r.SenderLeaf != from.g.OwnLeafIndex() {
			t.Fatalf("got %+v", r)
		}
	}
}

// setupGroup creates alice's group and adds bob and carol.
func setupGroup(t *testing.T, inBandTree bool) (a, b, c *client) {
	t.Helper()
	a, b, c = newClient(t, "alice", 1), newClient(t, "bob", 2), newClient(t, "carol", 3)
	var err error
	if a.g, err = CreateGroup(a.cfg, a.id, []byte("group")); err != nil {
		t.Fatal(err)
	}
	res := mustCommit(t, a, CommitOptions{AddKeyPackages: [][]byte{b.kp.Message, c.kp.Message}, RatchetTreeInWelcome: inBandTree})
	var opts JoinOptions
	if !inBandTree {
		if opts.RatchetTree, err = a.g.RatchetTree(); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range []*client{b, c} {
		if x.g, err = JoinFromWelcome(x.cfg, x.id, x.kp, res.Welcome, opts); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	sameEpoch(t, a, b, c)
	return a, b, c
}

func TestGroupLifecycle(t *testing.T) {
	for _, inBand := range []bool{true, false} {
		a, b, c := setupGroup(t, inBand)
		if len(a.g.Members()) != 3 || b.g.OwnLeafIndex() != 1 || c.g.OwnLeafIndex() != 2 {
			t.Fatalf("members %+v", a.g.Members())
		}
		sendAll(t, a, b, c)
		sendAll(t, b, a, c)
		sendAll(t, c, a, b)
		// bob proposes an update, carol commits it.
		p, err := b.g.ProposeUpdate(SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*client{a, c} {
			if _, err := x.g.Process(p); err != nil {
				t.Fatal(err)
			}
		}
		mustCommit(t, c, CommitOptions{}, a, b)
		sameEpoch(t, a, b, c)
		sendAll(t, b, a, c)
		// alice removes bob with a public commit.
		mustCommit(t, a, CommitOptions{RemoveLeaves: []uint32{1}, SendOptions: SendOptions{Public: true}}, c)
		sameEpoch(t, a, c)
		sendAll(t, c, a)
		// exporter agreement.
		ea, _ := a.g.Export("test", []byte("ctx"), 32)
		ec, _ := c.g.Export("test", []byte("ctx"), 32)
		if !bytes.Equal(ea, ec) {
			t.Fatal("exporters differ")
		}
	}
}

func TestRejectedCommitsLeaveGroupUnchanged(t *testing.T) {
	a, b, c := setupGroup(t, true)
	res, err := a.g.Commit(CommitOptions{ForcePath: true, SendOptions: SendOptions{Public: true}})
	if err != nil {
		t.Fatal(err)
	}
	good := res.Commit
	tamper := func(off int) []byte {
		m := append([]byte(nil), good...)
		m[len(m)-off] ^= 1
		return m
	}
	cases := []struct {
		name string
		msg  []byte
		want error
	}{
		{"bad membership tag", tamper(1), ErrBadMembershipTag},
		{"truncated", good[:len(good)-3], ErrMalformed},
	}
	before := b.g.EpochAuthenticator()
	for _, tc := range cases {
		_, err := b.g.Process(tc.msg)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if !bytes.Equal(b.g.EpochAuthenticator(), before) || b.g.Epoch() != 1 {
			t.Fatalf("%s: group changed", tc.name)
		}
	}
	if _, err := b.g.Process(good); err != nil {
		t.Fatal(err)
	}
	// Replaying the commit in the new epoch is a wrong-epoch message.
	if _, err := b.g.Process(good); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("replay: got %v", err)
	}
	_ = c
	// The delivery service rejected alice's commit: she rebases.
	a.g.ClearPendingCommit()
	if a.g.Epoch() != 1 {
		t.Fatal("clear changed epoch")
	}
}

func TestReplayedApplicationMessage(t *testing.T) {
	a, b, _ := setupGroup(t, true)
	ct, err := a.g.Encrypt([]byte("once"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.g.Process(ct); err != nil {
		t.Fatal(err)
	}
	if _, err := b.g.Process(ct); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: got %v", err)
	}
}

func TestExternalJoin(t *testing.T) {
	a, b, c := setupGroup(t, true)
	gi, err := a.g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	// The members admit dave's and bob's (resync) external joins
	// (docs/spec/mls-policy.md).
	var joins []ExternalJoinInfo
	for _, x := range []*client{a, b, c} {
		x.g.cfg.Policy.AcceptExternalJoin = func(j ExternalJoinInfo) error {
			joins = append(joins, j)
			if string(j.Joiner.Identity) == "dave" && j.Resync == nil {
				return nil
			}
			if string(j.Joiner.Identity) == "bob" && j.Resync != nil && string(j.Resync.Identity) == "bob" {
				return nil
			}
			return errors.New("unexpected joiner")
		}
	}
	d := newClient(t, "dave", 4)
	d.cfg.Policy = a.g.cfg.Policy
	dg, commit, err := JoinExternal(d.cfg, d.id, gi, ExternalJoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.g = dg
	for _, x := range []*client{a, b, c} {
		r, err := x.g.Process(commit)
		if err != nil {
			t.Fatalf("processing external commit: %v", err)
		}
		if r.SenderLeaf != d.g.OwnLeafIndex() {
			t.Fatalf("joiner leaf %d vs %d", r.SenderLeaf, d.g.OwnLeafIndex())
		}
	}
	sameEpoch(t, a, b, c, d)
	sendAll(t, d, a, b, c)
	// bob resyncs by joining externally and removing his old leaf.
	gi, _ = a.g.GroupInfo(false)
	tr, _ := a.g.RatchetTree()
	old := b.g.OwnLeafIndex()
	bg, commit, err := JoinExternal(b.cfg, b.id, gi, ExternalJoinOptions{RatchetTree: tr, ResyncLeaf: &old})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*client{a, c, d} {
		if _, err := x.g.Process(commit); err != nil {
			t.Fatalf("resync commit: %v", err)
		}
	}
	b.g = bg
	sameEpoch(t, a, b, c, d)
	sendAll(t, b, a, c, d)
	if len(joins) != 6 || joins[0].Joiner.LeafIndex != d.g.OwnLeafIndex() || joins[3].Resync.LeafIndex != old {
		t.Fatalf("policy saw %+v", joins)
	}
}

func TestMarshalRestore(t *testing.T) {
	a, b, c := setupGroup(t, true)
	sendAll(t, a, b, c)
	p, err := c.g.ProposeUpdate(SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, p, a, b)
	for _, x := range []*client{a, b, c} {
		st, err := x.g.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if x.g, err = Restore(x.cfg, st); err != nil {
			t.Fatalf("restore: %v", err)
		}
	}
	// The restored groups keep working: the cached proposal commits,
	// messages flow, and an old message key is still burnt.
	mustCommit(t, b, CommitOptions{}, a, c)
	sameEpoch(t, a, b, c)
	sendAll(t, c, a, b)
	sendAll(t, a, b, c)
}
