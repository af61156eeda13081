package mls

import (
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
)

// This file holds the group policy: who may change the membership of a
// group besides its members' own choices (docs/spec/mls-policy.md, "Who
// decides membership"). RFC 9420 leaves that decision to the application
// (§12.1.8: proposals by non-members; §12.4.3.2: external joins); samizdat
// decides it here, the same way on every path:
//
//   - A proposal from a non-member (sender type external or
//     new_member_proposal) is cached only if GroupPolicy.AcceptProposal
//     accepts it; a nil hook refuses them all with ErrPolicy.
//   - Our commit carries our own proposals, the proposals named in
//     CommitOptions.Proposals, and a cached proposal of another sender only
//     if AcceptProposal accepts it with ProposalInfo.Committing set. Nothing
//     is committed merely because it is cached.
//   - An external commit is processed only if GroupPolicy.AcceptExternalJoin
//     accepts the joiner's leaf; a nil hook refuses every external commit.
//
// Members receiving a member's commit apply it as the committer chose: the
// committer is a member, and the non-member proposals it may reference
// passed our own AcceptProposal when we cached them (a reference to a
// proposal we refused fails as an unknown proposal, §12.4.2). Every member
// of a group must therefore run the same policy.

// GroupPolicy is the application's decision on membership changes that no
// member proposed (docs/spec/mls-policy.md). The zero value refuses every
// proposal of a non-member and every external join. A hook returns nil to
// accept and an error saying why to refuse; Process then fails with a
// *ValidationError wrapping ErrPolicy and that reason.
type GroupPolicy struct {
	// AcceptProposal decides a proposal of another sender: when a
	// non-member's proposal arrives (Committing false) and, for any
	// sender's cached proposal that CommitOptions.Proposals does not name,
	// when we commit (Committing true). Proposals of members arriving are
	// cached without asking: members decide membership.
	AcceptProposal func(p ProposalInfo) error
	// AcceptExternalJoin decides an external commit (RFC 9420 §12.4.3.2),
	// for example the account's own new device re-joining, after the
	// commit's signature and proposal list checked out.
	AcceptExternalJoin func(j ExternalJoinInfo) error
}

// ProposalInfo describes a proposal for GroupPolicy.AcceptProposal and
// Group.CachedProposals.
type ProposalInfo struct {
	GroupID []byte
	Epoch   uint64
	// Ref is the ProposalRef (RFC 9420 §5.2), to name the proposal in
	// CommitOptions.Proposals.
	Ref []byte
	// Type is the RFC 9420 proposal type (1 add, 2 update, 3 remove, ...).
	Type uint16
	// SenderType is the RFC 9420 sender type (1 member, 2 external,
	// 3 new_member_proposal).
	SenderType uint8
	// Sender is the sender: the member at its leaf, the external_senders
	// entry (LeafIndex is then the sender index), or for a
	// new_member_proposal the leaf of the KeyPackage it adds.
	Sender Member
	// Added is the member an Add would add (from its KeyPackage).
	Added *Member
	// Removed is the member a Remove would remove.
	Removed *Member
	// Committing is set when the question is whether to put the proposal
	// into our commit, unset when it arrives.
	Committing bool
}

// ExternalJoinInfo describes an external commit for
// GroupPolicy.AcceptExternalJoin.
type ExternalJoinInfo struct {
	GroupID []byte
	Epoch   uint64
	// Joiner is the joiner's new leaf (its LeafIndex is where it lands).
	Joiner Member
	// Resync is the member whose leaf the commit removes (the joiner's old
	// leaf, RFC 9420 §12.4.3.2), or nil.
	Resync *Member
}

func memberOf(l uint32, leaf *format.LeafNode) Member {
	return Member{LeafIndex: l, Identity: leaf.Credential.Identity, SignaturePublicKey: leaf.SignatureKey, EncryptionKey: leaf.EncryptionKey}
}

// senderMember is the sender of a message of the current epoch as the
// current tree and extensions name it (nil if they do not): the member at
// its leaf, the external_senders entry (LeafIndex is then the sender
// index), the leaf of a new_member_proposal's KeyPackage or of an external
// commit's path (RFC 9420 §6.1).
func (g *Group) senderMember(sender format.Sender, p *format.Proposal, c *format.Commit) *Member {
	var m Member
	switch sender.Type {
	case format.SenderMember:
		leaf := g.leafNode(sender.LeafIndex)
		if leaf == nil {
			return nil
		}
		m = memberOf(sender.LeafIndex, leaf)
	case format.SenderExternal:
		var es format.ExternalSenders
		e := format.FindExtension(g.ctx.Extensions, format.ExtExternalSenders)
		if e == nil || codec.Unmarshal(e.Data, &es) != nil || uint64(sender.SenderIndex) >= uint64(len(es)) {
			return nil
		}
		s := es[sender.SenderIndex]
		m = Member{LeafIndex: sender.SenderIndex, Identity: s.Credential.Identity, SignaturePublicKey: s.SignatureKey}
	case format.SenderNewMemberProposal:
		if p == nil || p.Add == nil {
			return nil
		}
		m = memberOf(0, &p.Add.KeyPackage.LeafNode)
	case format.SenderNewMemberCommit:
		if c == nil || c.Path == nil {
			return nil
		}
		m = memberOf(0, &c.Path.LeafNode)
	default:
		return nil
	}
	return &m
}

// proposalInfo builds the policy's view of a proposal of this epoch.
func (g *Group) proposalInfo(p *format.Proposal, sender format.Sender, ref []byte, committing bool) ProposalInfo {
	info := ProposalInfo{GroupID: g.GroupID(), Epoch: g.ctx.Epoch, Ref: append([]byte(nil), ref...), Type: uint16(p.Type),
		SenderType: uint8(sender.Type), Committing: committing}
	if m := g.senderMember(sender, p, nil); m != nil {
		info.Sender = *m
	}
	switch {
	case p.Type == format.ProposalAdd && p.Add != nil:
		m := memberOf(0, &p.Add.KeyPackage.LeafNode)
		info.Added = &m
	case p.Type == format.ProposalRemove && p.Remove != nil:
		if leaf := g.leafNode(p.Remove.Removed); leaf != nil {
			m := memberOf(p.Remove.Removed, leaf)
			info.Removed = &m
		}
	}
	return info
}

// CachedProposals returns the proposals cached this epoch, ours included,
// in the order they arrived. A commit carries another sender's proposal
// only if CommitOptions.Proposals names its Ref or the policy accepts it.
func (g *Group) CachedProposals() []ProposalInfo {
	out := make([]ProposalInfo, 0, len(g.proposals))
	for _, cp := range g.proposals {
		out = append(out, g.proposalInfo(cp.proposal, cp.sender, cp.ref, false))
	}
	return out
}

// admitProposal applies the policy to a proposal arriving from sender
// (RFC 9420 §12.1.8: a non-member's proposal is the application's call).
func (g *Group) admitProposal(p *format.Proposal, sender format.Sender, ref []byte) error {
	if sender.Type == format.SenderMember {
		return nil
	}
	return g.askProposal(g.proposalInfo(p, sender, ref, false))
}

func (g *Group) askProposal(info ProposalInfo) error {
	hook := g.cfg.Policy.AcceptProposal
	if hook == nil {
		return invalidErr("12.1.8", fmt.Sprintf("proposal of type %d from sender type %d: no policy accepts it", info.Type, info.SenderType), ErrPolicy)
	}
	if err := hook(info); err != nil {
		return invalidErr("12.1.8", fmt.Sprintf("proposal of type %d from sender type %d: %v", info.Type, info.SenderType, err), ErrPolicy)
	}
	return nil
}

// admitExternalJoin applies the policy to an external commit (RFC 9420
// §12.4.3.2) whose proposals have been validated.
func (ec *epochChange) admitExternalJoin(g *Group, joiner *format.LeafNode, at uint32) error {
	info := ExternalJoinInfo{GroupID: g.GroupID(), Epoch: g.ctx.Epoch, Joiner: memberOf(at, joiner)}
	for _, rp := range ec.props {
		if rp.p.Type == format.ProposalRemove {
			if leaf := g.leafNode(rp.p.Remove.Removed); leaf != nil {
				m := memberOf(rp.p.Remove.Removed, leaf)
				info.Resync = &m
			}
		}
	}
	hook := g.cfg.Policy.AcceptExternalJoin
	if hook == nil {
		return invalidErr("12.4.3.2", "external commit: no policy accepts external joins", ErrPolicy)
	}
	if err := hook(info); err != nil {
		return invalidErr("12.4.3.2", fmt.Sprintf("external commit: %v", err), ErrPolicy)
	}
	return nil
}

// chooseProposal reports whether our commit carries a cached proposal of
// another sender: it does if chosen names it (the name is then crossed
// off) or if the policy accepts it.
func (g *Group) chooseProposal(cp *cachedProposal, chosen map[string]bool) bool {
	if chosen[string(cp.ref)] {
		delete(chosen, string(cp.ref))
		return true
	}
	if g.cfg.Policy.AcceptProposal == nil {
		return false
	}
	return g.askProposal(g.proposalInfo(cp.proposal, cp.sender, cp.ref, true)) == nil
}
