package mls

import (
	"bytes"
	"errors"
	"testing"
)

// inSuite gives x a new identity and KeyPackage in cipher suite cs.
func inSuite(t *testing.T, x *client, cs CipherSuite, seed uint64) *client {
	t.Helper()
	cfg := testConfig(seed)
	cfg.CipherSuite = cs
	return clientWith(t, cfg, x.id.Name)
}

func TestReInitSuccessor(t *testing.T) {
	a, b, c := setupGroup(t, true)
	const newSuite = CipherSuite(3)
	p, err := a.g.ProposeReInit([]byte("group v2"), newSuite, nil, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, p, b, c)
	// bob commits the ReInit; the old group is frozen.
	mustCommit(t, b, CommitOptions{Proposals: cachedRefs(b)}, a, c)
	if _, err := a.g.Encrypt([]byte("x"), nil); !errors.Is(err, ErrInactive) {
		t.Fatalf("old group still sends: %v", err)
	}
	a2, b2, c2 := inSuite(t, a, newSuite, 11), inSuite(t, b, newSuite, 12), inSuite(t, c, newSuite, 13)
	ng, res, err := a.g.ReInitSuccessor(a2.id, [][]byte{b2.kp.Message, c2.kp.Message}, CommitOptions{RatchetTreeInWelcome: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ng.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	a2.g = ng
	// A Welcome to a successor group cannot be joined without the old one.
	if _, err := JoinFromWelcome(b2.cfg, b2.id, b2.kp, res.Welcome, JoinOptions{}); !errors.Is(err, ErrUnknownPSK) {
		t.Fatalf("join without the old group: %v", err)
	}
	// Nor as a branch of it: a reinit PSK does not resolve as a branch one.
	if _, err := JoinBranch(b2.cfg, b2.id, b2.kp, res.Welcome, b.g, JoinOptions{}); !errors.Is(err, ErrUnknownPSK) {
		t.Fatalf("reinit welcome joined as a branch: %v", err)
	}
	if b2.g, err = JoinReInit(b2.cfg, b2.id, b2.kp, res.Welcome, b.g, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if c2.g, err = JoinReInit(c2.cfg, c2.id, c2.kp, res.Welcome, c.g, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	sameEpoch(t, a2, b2, c2)
	if !bytes.Equal(b2.g.GroupID(), []byte("group v2")) || b2.g.CipherSuite() != newSuite || b2.g.Epoch() != 1 {
		t.Fatalf("successor group %q suite %d epoch %d", b2.g.GroupID(), b2.g.CipherSuite(), b2.g.Epoch())
	}
	sendAll(t, c2, a2, b2)
	mustCommit(t, c2, CommitOptions{ForcePath: true}, a2, b2)
	sendAll(t, b2, a2, c2)
}

func TestReInitSuccessorNeedsReInit(t *testing.T) {
	a, b, _ := setupGroup(t, true)
	if _, _, err := a.g.ReInitSuccessor(a.id, [][]byte{b.kp.Message}, CommitOptions{}); !errors.Is(err, ErrNoReInit) {
		t.Fatalf("got %v", err)
	}
}

func TestBranch(t *testing.T) {
	a, b, c := setupGroup(t, true)
	b2 := inSuite(t, b, a.id.CipherSuite, 22)
	b2.id = b.id // same identity, fresh KeyPackage
	kp, err := b.id.NewKeyPackage(b2.cfg, KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b2.kp = kp
	// dave is not a member of the parent group.
	d := newClient(t, "dave", 4)
	var ve *ValidationError
	if _, _, err := a.g.Branch(a.id, []byte("sub"), nil, [][]byte{d.kp.Message}, CommitOptions{}); !errors.As(err, &ve) || ve.Section != "11.3" {
		t.Fatalf("branch with a non-member: %v", err)
	}
	sg, res, err := a.g.Branch(a.id, []byte("sub"), nil, [][]byte{b2.kp.Message}, CommitOptions{RatchetTreeInWelcome: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sg.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	a2 := &client{id: a.id, g: sg}
	// A branch Welcome is not a ReInit Welcome.
	if _, err := JoinReInit(b2.cfg, b2.id, b2.kp, res.Welcome, b.g, JoinOptions{}); !errors.Is(err, ErrNoReInit) {
		t.Fatalf("branch welcome joined as reinit: %v", err)
	}
	if b2.g, err = JoinBranch(b2.cfg, b2.id, b2.kp, res.Welcome, b.g, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	sameEpoch(t, a2, b2)
	if len(b2.g.Members()) != 2 || !bytes.Equal(b2.g.GroupID(), []byte("sub")) {
		t.Fatalf("subgroup %+v", b2.g.Members())
	}
	sendAll(t, b2, a2)
	// The parent group goes on.
	sendAll(t, c, a, b)
}
