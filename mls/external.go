package mls

import (
	"math"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/tree"
)

// ExternalJoinOptions tunes JoinExternal.
type ExternalJoinOptions struct {
	// RatchetTree is the tree when the GroupInfo does not carry it.
	RatchetTree []byte
	// ResyncLeaf, if set, removes our old leaf at that index in the same
	// commit (RFC 9420 §12.4.3.2, resync).
	ResyncLeaf *uint32
	// AuthenticatedData of the commit.
	AuthenticatedData []byte
}

// JoinExternal joins a group through an external commit (RFC 9420
// §12.4.3.2) from an MLSMessage(GroupInfo) with the external_pub
// extension. It returns the group at the new epoch and the commit to send;
// if the delivery service rejects the commit, discard the group.
func JoinExternal(cfg Config, id *Identity, groupInfo []byte, opts ExternalJoinOptions) (*Group, []byte, error) {
	prev, ep, err := externalJoinBase(cfg, id, groupInfo, opts.RatchetTree)
	if err != nil {
		return nil, nil, err
	}
	// RFC 9420 §8.3: kem_output and init_secret from external_pub.
	kemOutput, initSecret, err := prev.suite.ExternalInitSend(ep.PublicKey)
	if err != nil {
		return nil, nil, invalidErr("8.3", "external init", err)
	}
	self := format.Sender{Type: format.SenderNewMemberCommit}
	c, props := externalCommitProposals(self, kemOutput, opts.ResyncLeaf)
	template := &format.LeafNode{
		EncryptionKey: []byte{}, SignatureKey: id.SignaturePublicKey, Credential: id.credential(),
		Capabilities: supportedCapabilities(id.CipherSuite), Source: format.LeafSourceCommit, Extensions: []format.Extension{},
	}
	ec := &epochChange{next: prev.clone(), committer: self, external: true, props: props, initSecret: initSecret, joinerLeaf: template}
	if err := ec.validateProposalList(prev); err != nil {
		return nil, nil, err
	}
	if err := ec.applyProposals(); err != nil {
		return nil, nil, err
	}
	n := ec.next
	l, err := n.tree.AddLeaf(template)
	if err != nil {
		return nil, nil, err
	}
	ctx := ec.provisionalContext()
	res, err := n.tree.CreateUpdatePath(&tree.CommitParams{Sender: l, Leaf: template, SignatureKey: id.SignaturePrivateKey, Context: &ctx, Rand: cfg.rand()})
	if err != nil {
		return nil, nil, err
	}
	c.Path = res.Path
	n.priv = res.Private
	// RFC 9420 §12.4.3.2: an external commit is a PublicMessage from a
	// new_member_commit sender, signed over the current GroupContext.
	ac, err := prev.framingEpoch(nil).Sign(format.WirePublicMessage, &format.FramedContent{
		GroupID: prev.ctx.GroupID, Epoch: prev.ctx.Epoch, Sender: self,
		AuthenticatedData: append([]byte{}, opts.AuthenticatedData...), ContentType: format.ContentCommit, Commit: c,
	}, id.SignaturePrivateKey)
	if err != nil {
		return nil, nil, err
	}
	if err := ec.newEpoch(prev, ac, res.CommitSecret); err != nil {
		return nil, nil, err
	}
	msg, err := prev.protect(ac)
	if err != nil {
		return nil, nil, err
	}
	return n, msg, nil
}

// externalJoinBase reads and checks the GroupInfo an external joiner
// starts from (RFC 9420 §12.4.3.2) and returns the group as of that
// epoch, holding no leaf of ours, with the GroupInfo's external_pub.
func externalJoinBase(cfg Config, id *Identity, groupInfo, ratchetTree []byte) (*Group, *format.ExternalPub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	m, err := parseMessage(groupInfo, format.WireGroupInfo)
	if err != nil {
		return nil, nil, err
	}
	gi := m.GroupInfo
	s, err := getSuite(CipherSuite(gi.GroupContext.CipherSuite))
	if err != nil {
		return nil, nil, err
	}
	if uint16(id.CipherSuite) != uint16(s.ID()) {
		return nil, nil, invalid("12.4.3.2", "identity cipher suite differs from the group's")
	}
	t, err := joinTree(s, gi, ratchetTree)
	if err != nil {
		return nil, nil, err
	}
	prev, err := joiningGroup(cfg, id, s, gi, t, "12.4.3.2")
	if err != nil {
		return nil, nil, err
	}
	prev.priv = tree.NewPrivate(math.MaxUint32, nil)
	// RFC 9420 §12.4.3.2: the GroupInfo carries external_pub.
	e := format.FindExtension(gi.Extensions, format.ExtExternalPub)
	if e == nil {
		return nil, nil, invalid("12.4.3.2", "group info lacks external_pub")
	}
	var ep format.ExternalPub
	if err := codec.Unmarshal(e.Data, &ep); err != nil {
		return nil, nil, invalid("12.4.3.2", "malformed external_pub")
	}
	return prev, &ep, nil
}

// externalCommitProposals returns the commit of an external join, holding
// its ExternalInit proposal and, for a resync, the Remove of our old leaf
// (RFC 9420 §12.4.3.2), with the proposals resolved as sent by self.
func externalCommitProposals(self format.Sender, kemOutput []byte, resyncLeaf *uint32) (*format.Commit, []resolvedProposal) {
	c := &format.Commit{Proposals: []format.ProposalOrRef{{Type: format.ProposalOrRefProposal, Proposal: &format.Proposal{
		Type: format.ProposalExternalInit, ExternalInit: &format.ExternalInitProposal{KEMOutput: kemOutput}}}}}
	if resyncLeaf != nil {
		c.Proposals = append(c.Proposals, format.ProposalOrRef{Type: format.ProposalOrRefProposal, Proposal: &format.Proposal{
			Type: format.ProposalRemove, Remove: &format.RemoveProposal{Removed: *resyncLeaf}}})
	}
	props := make([]resolvedProposal, 0, len(c.Proposals))
	for _, por := range c.Proposals {
		props = append(props, resolvedProposal{p: por.Proposal, sender: self})
	}
	return c, props
}
