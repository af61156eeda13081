package mls

import (
	"bytes"
	"errors"
	"testing"
)

func newIdentity(t *testing.T, name string, seed uint64) *Identity {
	t.Helper()
	id, err := NewIdentity(testConfig(seed), []byte(name))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func memberAt(t *testing.T, x *client, leaf uint32) Member {
	t.Helper()
	for _, m := range x.g.Members() {
		if m.LeafIndex == leaf {
			return m
		}
	}
	t.Fatalf("no member at leaf %d", leaf)
	return Member{}
}

// bob proposes a leaf with a new signature key and credential; carol
// commits it. Everyone then verifies bob's messages with the new key.
func TestUpdateWithNewIdentity(t *testing.T) {
	a, b, c := setupGroup(t, true)
	bob2 := newIdentity(t, "bob (new phone)", 31)
	p, err := b.g.ProposeUpdateIdentity(bob2, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, p, a, c)
	// bob restarts while his Update is pending.
	restoreClient(t, b)
	mustCommit(t, c, CommitOptions{Proposals: cachedRefs(c)}, a, b)
	sameEpoch(t, a, b, c)
	for _, x := range []*client{a, b, c} {
		m := memberAt(t, x, 1)
		if !bytes.Equal(m.SignaturePublicKey, bob2.SignaturePublicKey) || string(m.Identity) != "bob (new phone)" {
			t.Fatalf("%s sees bob as %q", x.id.Name, m.Identity)
		}
	}
	b.id = bob2
	sendAll(t, b, a, c)
	mustCommit(t, b, CommitOptions{ForcePath: true}, a, c)
	sendAll(t, b, a, c)
}

// alice changes her signature key through her own commit's path, both
// directly and by committing while her own identity Update is pending.
func TestCommitPathWithNewIdentity(t *testing.T) {
	a, b, c := setupGroup(t, true)
	alice2 := newIdentity(t, "alice", 41)
	mustCommit(t, a, CommitOptions{Identity: alice2}, b, c)
	sameEpoch(t, a, b, c)
	if m := memberAt(t, b, 0); !bytes.Equal(m.SignaturePublicKey, alice2.SignaturePublicKey) {
		t.Fatal("path leaf kept the old signature key")
	}
	a.id = alice2
	sendAll(t, a, b, c)

	alice3 := newIdentity(t, "alice", 42)
	p, err := a.g.ProposeUpdateIdentity(alice3, SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, p, b, c)
	mustCommit(t, a, CommitOptions{}, b, c)
	sameEpoch(t, a, b, c)
	if m := memberAt(t, c, 0); !bytes.Equal(m.SignaturePublicKey, alice3.SignaturePublicKey) {
		t.Fatal("own pending identity Update not carried into the path")
	}
	a.id = alice3
	sendAll(t, a, b, c)
}

func TestUpdateIdentityOfAnotherSuite(t *testing.T) {
	a, _, _ := setupGroup(t, true)
	cfg := testConfig(51)
	cfg.CipherSuite = 3
	other, err := NewIdentity(cfg, []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	other.CipherSuite = 2 // a P-256 suite: not the group's
	var ve *ValidationError
	if _, err := a.g.ProposeUpdateIdentity(other, SendOptions{}); !errors.As(err, &ve) || ve.Section != "7.3" {
		t.Fatalf("identity of another suite: %v", err)
	}
}
