package mls

import (
	"bytes"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// This file holds the proposal-list checks of RFC 9420 §12.2 that look at
// the group as a whole: capabilities of the members that will process the
// commit, and the shape of external commits (§12.4.3.2).

// checkSupport implements the capability rules for a commit's proposals:
// every member that stays supports each non-default proposal type
// (RFC 9420 §12.2), and, after a GroupContextExtensions proposal, every
// member that stays or is added supports each non-default extension and
// the required_capabilities (§12.1.7, §11.1). Without one, added members
// are checked against the current extensions (§12.1.1, §7.2).
func (ec *epochChange) checkSupport(g *Group, removed map[uint32]bool) error {
	exts, gce, nonDefault := g.ctx.Extensions, false, false
	for _, rp := range ec.props {
		gce = gce || rp.p.Type == format.ProposalGroupContextExtensions
		nonDefault = nonDefault || !defaultProposal(rp.p.Type)
	}
	// Only a GroupContextExtensions or a non-default proposal type needs
	// the capabilities of every staying member.
	staying := map[uint32]*format.LeafNode{}
	for _, l := range membersIf(g, gce || nonDefault) {
		if !removed[uint32(l)] {
			staying[uint32(l)] = g.tree.Leaf(l)
		}
	}
	var added []*format.LeafNode
	for _, rp := range ec.props {
		switch rp.p.Type {
		case format.ProposalGroupContextExtensions:
			exts = rp.p.GroupContextExtensions.Extensions
		case format.ProposalUpdate:
			// The leaf that will process later commits is the new one.
			if rp.sender.Type == format.SenderMember && staying[rp.sender.LeafIndex] != nil {
				staying[rp.sender.LeafIndex] = &rp.p.Update.LeafNode
			}
		case format.ProposalAdd:
			added = append(added, &rp.p.Add.KeyPackage.LeafNode)
		}
	}
	for _, rp := range ec.props {
		if defaultProposal(rp.p.Type) {
			continue
		}
		// RFC 9420 §12.2: a non-default proposal type must be supported
		// by every member that processes the commit.
		for _, leaf := range staying {
			if !supportsProposal(&leaf.Capabilities, rp.p.Type) {
				return invalid("12.2", "a member does not support a proposal type of the commit")
			}
		}
	}
	check := added
	if gce {
		for _, leaf := range staying {
			check = append(check, leaf)
		}
	}
	for _, leaf := range check {
		// RFC 9420 §12.1.7, §7.2: members support the group's
		// non-default extensions.
		for _, e := range exts {
			if !supportsExtension(&leaf.Capabilities, e.Type) {
				return invalid("12.1.7", "a member does not support a group context extension")
			}
		}
		// RFC 9420 §11.1: every member meets required_capabilities.
		if err := checkRequiredCapabilities(exts, leaf); err != nil {
			return err
		}
	}
	return nil
}

// checkExternal implements the proposal rules of an external commit
// (RFC 9420 §12.4.3.2): proposals by value only, of the types
// ExternalInit, PreSharedKey and at most one Remove, which must remove the
// joiner's own old leaf (a resync: the new leaf must be acceptable as an
// Update of the removed one, §12.1.2, so it has the same credential).
func (ec *epochChange) checkExternal(g *Group) error {
	removes := 0
	for _, rp := range ec.props {
		if rp.byRef {
			return invalid("12.4.3.2", "external commit includes a proposal by reference")
		}
		switch rp.p.Type {
		case format.ProposalExternalInit, format.ProposalPreSharedKey:
		case format.ProposalRemove:
			if removes++; removes > 1 {
				return invalid("12.4.3.2", "external commit with more than one Remove")
			}
			old := g.tree.Leaf(treemath.LeafIndex(rp.p.Remove.Removed))
			if old == nil {
				return invalid("12.1.3", "remove of a blank or absent leaf")
			}
			if ec.joinerLeaf == nil || !sameCredential(&old.Credential, &ec.joinerLeaf.Credential) {
				return invalid("12.4.3.2", "resync Remove of a leaf that is not the joiner's")
			}
		default:
			return invalid("12.4.3.2", "proposal type not allowed in an external commit")
		}
	}
	return nil
}

// sameCredential reports whether two credentials are identical.
func sameCredential(a, b *format.Credential) bool {
	x, err1 := codec.Marshal(a)
	y, err2 := codec.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
