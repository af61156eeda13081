package mls

import (
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/framing"
)

// isMember reports whether x's view of the group has a leaf with identity.
func isMember(x *client, identity string) bool {
	for _, m := range x.g.Members() {
		if string(m.Identity) == identity {
			return true
		}
	}
	return false
}

// outsiderProposal is what anyone who knows a group's id and epoch (the
// server sees both on every stored payload) can make: a self-signed
// PublicMessage proposal from a non-member sender (RFC 9420 §12.1.8).
// For new_member_proposal the key is the KeyPackage's own.
func outsiderProposal(t *testing.T, of *client, sender format.Sender, signer []byte, p *format.Proposal) []byte {
	t.Helper()
	g := of.g
	return forgeFramed(t, g, &framing.Epoch{Suite: g.suite, Context: &g.ctx}, format.WirePublicMessage, format.FramedContent{
		Sender: sender, ContentType: format.ContentProposal, Proposal: p,
	}, signer)
}

func selfAdd(t *testing.T, x *client) *format.Proposal {
	t.Helper()
	kp, err := parseKeyPackage(x.kp.Message)
	if err != nil {
		t.Fatal(err)
	}
	return &format.Proposal{Type: format.ProposalAdd, Add: &format.AddProposal{KeyPackage: *kp}}
}

// TestAdversaryGhostNewMemberProposal: an outsider's self-signed
// new_member_proposal must never make it a member without a member
// deciding it (docs/spec/mls-policy.md, "Who decides membership").
func TestAdversaryGhostNewMemberProposal(t *testing.T) {
	a, b, c := setupGroup(t, true)
	mallory := newClient(t, "mallory", 66)
	ghost := outsiderProposal(t, b, format.Sender{Type: format.SenderNewMemberProposal}, mallory.id.SignaturePrivateKey, selfAdd(t, mallory))
	// Every member receives the ghost; with no policy it is refused.
	for _, x := range []*client{a, b, c} {
		if _, err := x.g.Process(ghost); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: new_member_proposal without a policy: got %v, want ErrPolicy", x.id.Name, err)
		}
	}
	// bob's next, unrelated commit must not carry the ghost in.
	mustCommit(t, b, CommitOptions{ForcePath: true}, a, c)
	for _, x := range []*client{a, b, c} {
		if isMember(x, "mallory") {
			t.Fatalf("%s sees mallory as a member after an unrelated commit", x.id.Name)
		}
	}
}

// TestAdversaryGhostProposalNeedsChoice: even when the policy lets a
// non-member proposal into the cache (for a stated purpose), a commit
// carries it only if the committer chooses it.
func TestAdversaryGhostProposalNeedsChoice(t *testing.T) {
	a, b, c := setupGroup(t, true)
	var seen []ProposalInfo
	pol := GroupPolicy{AcceptProposal: func(p ProposalInfo) error {
		if p.Committing {
			return errors.New("not chosen")
		}
		seen = append(seen, p)
		return nil
	}}
	for _, x := range []*client{a, b, c} {
		x.g.cfg.Policy = pol
	}
	dave := newClient(t, "dave", 4)
	prop := outsiderProposal(t, b, format.Sender{Type: format.SenderNewMemberProposal}, dave.id.SignaturePrivateKey, selfAdd(t, dave))
	deliver(t, prop, a, b, c)
	if len(seen) != 3 || string(seen[0].Added.Identity) != "dave" || seen[0].SenderType != uint8(format.SenderNewMemberProposal) {
		t.Fatalf("policy saw %+v", seen)
	}
	mustCommit(t, b, CommitOptions{ForcePath: true}, a, c)
	if isMember(a, "dave") {
		t.Fatal("an unchosen non-member proposal was committed")
	}
	prop = outsiderProposal(t, b, format.Sender{Type: format.SenderNewMemberProposal}, dave.id.SignaturePrivateKey, selfAdd(t, dave))
	deliver(t, prop, a, b, c)
	cached := b.g.CachedProposals()
	if len(cached) != 1 {
		t.Fatalf("bob caches %d proposals, want 1", len(cached))
	}
	res := mustCommit(t, b, CommitOptions{Proposals: [][]byte{cached[0].Ref}}, a, c)
	if res.Welcome == nil || !isMember(a, "dave") || !isMember(c, "dave") {
		t.Fatal("a chosen proposal was not committed")
	}
}

// TestAdversaryServerInjectedProposal: a group that lists the server as an
// external sender (to let it remove dead devices) must not let it add
// itself: an external sender's Add is refused unless the policy allows it.
func TestAdversaryServerInjectedProposal(t *testing.T) {
	server := newClient(t, "server", 99)
	a, b := newClient(t, "alice", 1), newClient(t, "bob", 2)
	var err error
	ext := ExternalSendersExtension(Member{Identity: []byte("server"), SignaturePublicKey: server.id.SignaturePublicKey})
	if a.g, err = CreateGroup(a.cfg, a.id, []byte("group"), ext); err != nil {
		t.Fatal(err)
	}
	res := mustCommit(t, a, CommitOptions{AddKeyPackages: [][]byte{b.kp.Message}, RatchetTreeInWelcome: true})
	if b.g, err = JoinFromWelcome(b.cfg, b.id, b.kp, res.Welcome, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	// The policy allows the server's Removes only.
	pol := GroupPolicy{AcceptProposal: func(p ProposalInfo) error {
		if p.SenderType == uint8(format.SenderExternal) && p.Type == uint16(format.ProposalRemove) {
			return nil
		}
		return errors.New("only removals from the server")
	}}
	a.g.cfg.Policy, b.g.cfg.Policy = pol, pol
	inject := outsiderProposal(t, a, format.Sender{Type: format.SenderExternal, SenderIndex: 0}, server.id.SignaturePrivateKey, selfAdd(t, server))
	for _, x := range []*client{a, b} {
		if _, err := x.g.Process(inject); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: server's Add: got %v, want ErrPolicy", x.id.Name, err)
		}
	}
	mustCommit(t, a, CommitOptions{ForcePath: true}, b)
	if isMember(a, "server") || isMember(b, "server") {
		t.Fatal("the server added itself")
	}
	// What the policy allows for its stated purpose still works: the
	// server's Remove of a dead device is cached and committed.
	c := newClient(t, "carol", 3)
	res = mustCommit(t, a, CommitOptions{AddKeyPackages: [][]byte{c.kp.Message}, RatchetTreeInWelcome: true}, b)
	if c.g, err = JoinFromWelcome(c.cfg, c.id, c.kp, res.Welcome, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	c.g.cfg.Policy = pol
	rm := outsiderProposal(t, a, format.Sender{Type: format.SenderExternal, SenderIndex: 0}, server.id.SignaturePrivateKey,
		&format.Proposal{Type: format.ProposalRemove, Remove: &format.RemoveProposal{Removed: c.g.OwnLeafIndex()}})
	deliver(t, rm, a, b, c)
	mustCommit(t, a, CommitOptions{}, b)
	if isMember(a, "carol") || isMember(b, "carol") {
		t.Fatal("the policy-accepted Remove was not committed")
	}
}

// TestAdversaryGhostExternalCommit: an outsider holding a GroupInfo (it
// travels through the server) joins by external commit; members refuse it
// unless their policy accepts the joiner's leaf.
func TestAdversaryGhostExternalCommit(t *testing.T) {
	a, b, c := setupGroup(t, true)
	gi, err := a.g.GroupInfo(true)
	if err != nil {
		t.Fatal(err)
	}
	mallory := newClient(t, "mallory", 66)
	_, commit, err := JoinExternal(mallory.cfg, mallory.id, gi, ExternalJoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*client{a, b, c} {
		epoch := x.g.Epoch()
		if _, err := x.g.Process(commit); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: external commit of an outsider: got %v, want ErrPolicy", x.id.Name, err)
		}
		if isMember(x, "mallory") || x.g.Epoch() != epoch {
			t.Errorf("%s let mallory in", x.id.Name)
		}
	}
}
