package mls

import (
	"errors"

	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// MessageKind says what a processed message carried.
type MessageKind int

// Kinds of processed messages.
const (
	KindApplication MessageKind = iota + 1
	KindProposal
	KindCommit
)

// Received is the outcome of processing one message.
type Received struct {
	Kind MessageKind
	// Epoch is the epoch the message was sent in: the group's current
	// one, or a kept past epoch for a late application message.
	Epoch uint64
	// SenderType is the RFC 9420 sender type (1 member, 2 external,
	// 3 new member proposal, 4 new member commit).
	SenderType uint8
	// SenderLeaf is the sender's leaf index for member senders and, for
	// an external commit, the joiner's new leaf.
	SenderLeaf        uint32
	AuthenticatedData []byte
	// Application is the plaintext of an application message.
	Application []byte
	// Sender is the sender as of the epoch the message was sent in
	// (docs/spec/mls-policy.md, "Senders are judged in their own epoch"):
	// for a late message of a past epoch, the identity and signature key
	// its leaf had then (EncryptionKey is not kept for past epochs), never
	// whoever holds the leaf now; for a commit, the committer before the
	// commit; for an external commit, the joiner at its new leaf; for an
	// external sender, its external_senders entry. Attribute messages
	// with it, not with SenderLeaf and the current Members.
	Sender *Member
	// ProposalType is the type of a received proposal.
	ProposalType uint16
	// Removed is set when a commit removed us; the group is then inactive.
	Removed bool
	// ReInit is set when a commit re-initialized the group.
	ReInit bool
}

// Process authenticates and applies one MLSMessage (RFC 9420 §6, §12.4.2):
// application messages are decrypted, proposals validated and cached,
// commits validated and applied, moving the group to the next epoch. On
// any error the group is unchanged.
func (g *Group) Process(message []byte) (*Received, error) {
	if !g.active {
		return nil, ErrInactive
	}
	m, err := parseMessage(message, 0)
	if err != nil {
		return nil, err
	}
	// RFC 9420 §6.1-§6.3: membership tag or decryption, then the
	// signature with the sender's key (g.senderKey).
	ac, rollback, err := g.unprotect(m)
	if err != nil {
		return nil, err
	}
	out, err := g.apply(ac)
	if err != nil {
		rollback()
		return nil, err
	}
	return out, nil
}

// apply acts on authenticated content: it returns application data, caches
// a proposal or applies a commit.
func (g *Group) apply(ac *format.AuthenticatedContent) (*Received, error) {
	out := &Received{Epoch: ac.Content.Epoch, SenderType: uint8(ac.Content.Sender.Type), SenderLeaf: ac.Content.Sender.LeafIndex, AuthenticatedData: ac.Content.AuthenticatedData}
	// The sender as of the message's epoch, before a commit changes the
	// tree (RFC 9420 §15.3 late messages use their epoch's tree).
	if ac.Content.Epoch != g.ctx.Epoch {
		out.Sender = g.pastSender(ac.Content.Epoch, ac.Content.Sender)
	} else {
		out.Sender = g.senderMember(ac.Content.Sender, ac.Content.Proposal, ac.Content.Commit)
	}
	if out.Sender == nil {
		// unprotect verified the signature with this sender's key.
		return nil, invalid("6.1", "sender unknown in the message's epoch")
	}
	switch ac.Content.ContentType {
	case format.ContentApplication:
		out.Kind, out.Application = KindApplication, ac.Content.Application
	case format.ContentProposal:
		out.Kind, out.ProposalType = KindProposal, uint16(ac.Content.Proposal.Type)
		if _, err := g.cacheProposal(ac); err != nil {
			// cacheProposal appends only on success.
			return nil, err
		}
	case format.ContentCommit:
		out.Kind = KindCommit
		if err := g.processCommit(ac, out); err != nil {
			return nil, err
		}
	default:
		return nil, invalidErr("6", "unknown content type", ErrMalformed)
	}
	return out, nil
}

// processCommit validates a commit and, if it is valid, replaces g's state
// with the next epoch's (RFC 9420 §12.4.2).
func (g *Group) processCommit(ac *format.AuthenticatedContent, out *Received) error {
	c := ac.Content.Commit
	sender := ac.Content.Sender
	// RFC 9420 §12.4.2: commits come from members or, for external
	// commits, from new members.
	switch sender.Type {
	case format.SenderMember:
		if sender.LeafIndex == uint32(g.priv.Leaf) {
			return invalidErr("12.4.2", "commit from our own leaf", ErrOwnCommit)
		}
	case format.SenderNewMemberCommit:
		// RFC 9420 §6.2: external commits travel as PublicMessage.
		if ac.WireFormat != format.WirePublicMessage {
			return invalid("12.4.3.2", "external commit not sent as PublicMessage")
		}
	default:
		return invalid("12.4.2", "commit from a sender that cannot commit")
	}
	// RFC 9420 §12.4.2: the confirmation tag is present.
	if len(ac.Auth.ConfirmationTag) == 0 {
		return invalidErr("12.4.2", "missing confirmation tag", ErrBadConfirmationTag)
	}
	ec := &epochChange{next: g.clone(), committer: sender, external: sender.Type == format.SenderNewMemberCommit}
	if ec.external {
		ec.joinerLeaf = &c.Path.LeafNode // g.senderKey checked it is there
	}
	var err error
	if ec.props, err = g.resolveProposals(c, sender); err != nil {
		return err
	}
	if err := ec.validateProposalList(g); err != nil {
		return err
	}
	// RFC 9420 §12.4: the path is present when required.
	if c.Path == nil && pathRequired(ec.props) {
		return invalid("12.4", "commit lacks a required path")
	}
	if err := ec.applyProposals(); err != nil {
		return err
	}
	if ec.removedSelf {
		// We cannot follow the group any further (RFC 9420 §12.4.2).
		g.active = false
		g.proposals = nil
		out.Removed = true
		return nil
	}
	if ec.external {
		if err := ec.externalInit(g); err != nil {
			return err
		}
	}
	commitSecret, err := ec.processPath(g, c.Path)
	if err != nil {
		return err
	}
	if err := ec.newEpoch(g, ac, commitSecret); err != nil {
		return err
	}
	out.SenderLeaf = ec.committer.LeafIndex
	out.Sender.LeafIndex = ec.committer.LeafIndex
	out.ReInit = ec.reinit != nil
	g.install(ec.next)
	return nil
}

// externalInit derives the init_secret of an external commit from its
// ExternalInit proposal with this epoch's external key (RFC 9420 §8.3).
func (ec *epochChange) externalInit(g *Group) error {
	priv, _, err := g.epoch.ExternalKeyPair()
	if err != nil {
		return err
	}
	init, err := g.suite.ExternalInitReceive(priv, ec.kemOutput)
	if err != nil {
		return invalidErr("8.3", "ExternalInit kem_output does not decapsulate", ErrDecrypt)
	}
	ec.initSecret = init
	return nil
}

// processPath merges and decrypts the committer's UpdatePath (RFC 9420
// §12.4.2, §7.5) and returns the commit_secret (nil for no path).
func (ec *epochChange) processPath(g *Group, path *format.UpdatePath) ([]byte, error) {
	if path == nil {
		return nil, nil
	}
	n := ec.next
	sender := treemath.LeafIndex(ec.committer.LeafIndex)
	if ec.external {
		// RFC 9420 §12.4.3.2: the joiner takes the leftmost free leaf.
		l, err := n.tree.AddLeaf(&path.LeafNode)
		if err != nil {
			return nil, invalidErr("12.4.3.2", "placing the joiner", err)
		}
		sender = l
		ec.committer.LeafIndex = uint32(l)
		// docs/spec/mls-policy.md: the application admits external joins.
		if err := ec.admitExternalJoin(g, &path.LeafNode, uint32(l)); err != nil {
			return nil, err
		}
	}
	ctx := ec.provisionalContext()
	secret, priv, _, err := n.tree.ProcessUpdatePath(n.priv, sender, path, &ctx, ec.added, n.leafPolicy(false))
	if err != nil {
		if errors.Is(err, schedule.ErrSecretLength) {
			return nil, err
		}
		return nil, invalidErr("12.4.2", "update path", err)
	}
	n.priv = priv
	n.priv.Prune(n.tree)
	return secret, nil
}
