package mls

import (
	"bytes"
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/tree"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// SendOptions says how a handshake or application message is framed.
type SendOptions struct {
	// Public sends handshake messages as PublicMessage (RFC 9420 §6.2)
	// instead of PrivateMessage, so that a delivery service can read them.
	Public bool
	// AuthenticatedData is the unencrypted but authenticated data of the
	// message (RFC 9420 §6).
	AuthenticatedData []byte
}

// proposalRef computes MakeProposalRef (RFC 9420 §5.2).
func (g *Group) proposalRef(ac *format.AuthenticatedContent) ([]byte, error) {
	b, err := codec.Marshal(ac)
	if err != nil {
		return nil, fmt.Errorf("mls: encoding proposal: %w", err)
	}
	return g.suite.RefHash(format.ProposalRefLabel, b), nil
}

// propose frames, signs, caches and encodes one of our proposals.
// upd, for our own Update, holds the new leaf's private keys.
func (g *Group) propose(p *format.Proposal, opts SendOptions, upd *cachedProposal) ([]byte, error) {
	if err := g.canSend(); err != nil {
		return nil, err
	}
	// RFC 9420 §12.1: we send only proposals that we would accept.
	if err := g.validateProposal(p, format.Sender{Type: format.SenderMember, LeafIndex: uint32(g.priv.Leaf)}); err != nil {
		return nil, err
	}
	ac, err := g.signContent(opts.Public, opts.AuthenticatedData, func(fc *format.FramedContent) {
		fc.ContentType, fc.Proposal = format.ContentProposal, p
	})
	if err != nil {
		return nil, err
	}
	ref, err := g.proposalRef(ac)
	if err != nil {
		return nil, err
	}
	msg, err := g.protect(ac)
	if err != nil {
		return nil, err
	}
	cp := cachedProposal{ref: ref, proposal: p, sender: ac.Content.Sender}
	if upd != nil {
		cp.updatePriv, cp.updateSig = upd.updatePriv, upd.updateSig
	}
	g.proposals = append(g.proposals, cp)
	return msg, nil
}

func (g *Group) canSend() error {
	if !g.active || g.reinit != nil {
		return ErrInactive
	}
	if g.pending != nil {
		return ErrPendingCommit
	}
	return nil
}

// addProposal builds an Add from a KeyPackage message after validating it
// (RFC 9420 §12.1.1).
func (g *Group) addProposal(keyPackage []byte) (*format.Proposal, error) {
	kp, err := parseKeyPackage(keyPackage)
	if err != nil {
		return nil, err
	}
	if err := validateKeyPackage(g.cfg, g.suite, kp, true); err != nil {
		return nil, err
	}
	return &format.Proposal{Type: format.ProposalAdd, Add: &format.AddProposal{KeyPackage: *kp}}, nil
}

// ProposeAdd proposes adding the owner of keyPackage (RFC 9420 §12.1.1).
func (g *Group) ProposeAdd(keyPackage []byte, opts SendOptions) ([]byte, error) {
	p, err := g.addProposal(keyPackage)
	if err != nil {
		return nil, err
	}
	return g.propose(p, opts, nil)
}

// ProposeRemove proposes removing the member at leaf (RFC 9420 §12.1.3).
func (g *Group) ProposeRemove(leaf uint32, opts SendOptions) ([]byte, error) {
	if g.leafNode(leaf) == nil {
		return nil, fmt.Errorf("mls: proposing remove: leaf %d is not a member", leaf)
	}
	return g.propose(&format.Proposal{Type: format.ProposalRemove, Remove: &format.RemoveProposal{Removed: leaf}}, opts, nil)
}

// ProposeUpdate proposes a fresh encryption key for our leaf (RFC 9420
// §12.1.2).
func (g *Group) ProposeUpdate(opts SendOptions) ([]byte, error) {
	return g.proposeUpdate(nil, opts)
}

// ProposeUpdateIdentity proposes a new leaf for us with a fresh encryption
// key and id's signature key and credential (RFC 9420 §12.1.2 allows any
// valid new leaf node). The proposal itself is signed with our current
// key; once the Update is committed we sign with id's.
func (g *Group) ProposeUpdateIdentity(id *Identity, opts SendOptions) ([]byte, error) {
	return g.proposeUpdate(id, opts)
}

func (g *Group) proposeUpdate(id *Identity, opts SendOptions) ([]byte, error) {
	leaf, signer, err := g.newOwnLeaf(id)
	if err != nil {
		return nil, err
	}
	priv, pub, err := g.suite.GenerateKeyPair(g.cfg.rand())
	if err != nil {
		return nil, fmt.Errorf("mls: proposing update: %w", err)
	}
	leaf.EncryptionKey = pub
	leaf.Source = format.LeafSourceUpdate
	leaf.Lifetime = format.Lifetime{}
	leaf.ParentHash = nil
	// RFC 9420 §7.3: the leaf is signed with its own signature key.
	if leaf.Signature, err = g.suite.SignWithLabel(signer, "LeafNodeTBS", leaf.TBS(g.ctx.GroupID, uint32(g.priv.Leaf))); err != nil {
		return nil, fmt.Errorf("mls: proposing update: %w", err)
	}
	upd := &cachedProposal{updatePriv: priv}
	if id != nil {
		upd.updateSig = signer
	}
	return g.propose(&format.Proposal{Type: format.ProposalUpdate, Update: &format.UpdateProposal{LeafNode: *leaf}}, opts, upd)
}

// newOwnLeaf returns a copy of our leaf carrying id's signature key and
// credential (or our current ones for a nil id), and the signature private
// key that goes with it.
func (g *Group) newOwnLeaf(id *Identity) (*format.LeafNode, []byte, error) {
	leaf := *g.leafNode(uint32(g.priv.Leaf))
	if id == nil {
		return &leaf, g.sig, nil
	}
	// RFC 9420 §7.3: the new leaf's keys are of the group's cipher suite.
	if uint16(id.CipherSuite) != uint16(g.ctx.CipherSuite) {
		return nil, nil, invalid("7.3", "new identity is not of the group's cipher suite")
	}
	leaf.SignatureKey, leaf.Credential = id.SignaturePublicKey, id.credential()
	return &leaf, id.SignaturePrivateKey, nil
}

// ProposeExternalPSK proposes injecting the external PSK pskID (RFC 9420
// §12.1.4); every member's PSKStore must know it.
func (g *Group) ProposeExternalPSK(pskID []byte, opts SendOptions) ([]byte, error) {
	p, err := g.pskProposal(format.PreSharedKeyID{PSKType: format.PSKExternal, PSKID: pskID})
	if err != nil {
		return nil, err
	}
	return g.propose(p, opts, nil)
}

// ProposeResumptionPSK proposes injecting the resumption PSK of one of this
// group's past epochs (RFC 9420 §12.1.4, §8.6).
func (g *Group) ProposeResumptionPSK(epoch uint64, opts SendOptions) ([]byte, error) {
	p, err := g.pskProposal(format.PreSharedKeyID{PSKType: format.PSKResumption, Usage: format.ResumptionApplication, PSKGroupID: g.ctx.GroupID, PSKEpoch: epoch})
	if err != nil {
		return nil, err
	}
	return g.propose(p, opts, nil)
}

func (g *Group) pskProposal(id format.PreSharedKeyID) (*format.Proposal, error) {
	if _, err := g.resolvePSK(&id); err != nil {
		return nil, err
	}
	nonce, err := g.cfg.randomBytes(g.suite.HashLen())
	if err != nil {
		return nil, err
	}
	// RFC 9420 §8.4: psk_nonce is a fresh random value of length Nh.
	id.Nonce = nonce
	return &format.Proposal{Type: format.ProposalPreSharedKey, PreSharedKey: &format.PreSharedKeyProposal{PSK: id}}, nil
}

// ProposeReInit proposes re-initializing the group with a new group id,
// cipher suite and extensions (RFC 9420 §12.1.5).
func (g *Group) ProposeReInit(groupID []byte, cs CipherSuite, extensions []Extension, opts SendOptions) ([]byte, error) {
	return g.propose(&format.Proposal{Type: format.ProposalReInit, ReInit: &format.ReInitProposal{
		GroupID: groupID, Version: format.MLS10, CipherSuite: format.CipherSuite(cs), Extensions: toFormatExtensions(extensions),
	}}, opts, nil)
}

// ProposeGroupContextExtensions proposes replacing the GroupContext
// extensions (RFC 9420 §12.1.7).
func (g *Group) ProposeGroupContextExtensions(extensions []Extension, opts SendOptions) ([]byte, error) {
	return g.propose(&format.Proposal{Type: format.ProposalGroupContextExtensions, GroupContextExtensions: &format.GroupContextExtensionsProposal{Extensions: toFormatExtensions(extensions)}}, opts, nil)
}

// PendingProposals returns how many proposals are cached for this epoch.
func (g *Group) PendingProposals() int { return len(g.proposals) }

// leafPolicy is the tree package's view of the group for leaf checks.
func (g *Group) leafPolicy(checkLifetime bool) *tree.LeafPolicy {
	pol := &tree.LeafPolicy{GroupID: g.ctx.GroupID}
	if checkLifetime {
		pol.Now = g.cfg.now()
	}
	if rc, err := requiredCapabilities(g.ctx.Extensions); err == nil {
		pol.Required = rc
	}
	return pol
}

// externalSenderKey returns the signature key of external sender i from the
// external_senders extension (RFC 9420 §12.1.8.1).
func (g *Group) externalSenderKey(i uint32) ([]byte, error) {
	e := format.FindExtension(g.ctx.Extensions, format.ExtExternalSenders)
	if e == nil {
		return nil, invalid("12.1.8.1", "external sender but no external_senders extension")
	}
	var es format.ExternalSenders
	if err := codec.Unmarshal(e.Data, &es); err != nil {
		return nil, invalid("12.1.8.1", "malformed external_senders extension")
	}
	if uint64(i) >= uint64(len(es)) {
		return nil, invalid("12.1.8.1", "external sender index out of range")
	}
	return es[i].SignatureKey, nil
}

// senderKey returns the signature key that must have signed c, and checks
// the sender type against the content (RFC 9420 §6.1, §12.1.8).
func (g *Group) senderKey(c *format.FramedContent) ([]byte, error) {
	switch c.Sender.Type {
	case format.SenderMember:
		leaf := g.leafNode(c.Sender.LeafIndex)
		if leaf == nil {
			return nil, invalid("6.1", "sender is not a member")
		}
		return leaf.SignatureKey, nil
	case format.SenderExternal:
		// RFC 9420 §12.1.8.1: external senders send proposals only, of
		// the types Add, Remove, PSK, ReInit and GCE.
		if c.ContentType != format.ContentProposal {
			return nil, invalid("12.1.8.1", "external sender sent a non-proposal")
		}
		switch c.Proposal.Type {
		case format.ProposalAdd, format.ProposalRemove, format.ProposalPreSharedKey, format.ProposalReInit, format.ProposalGroupContextExtensions:
		default:
			return nil, invalid("12.1.8.1", "proposal type not allowed from an external sender")
		}
		return g.externalSenderKey(c.Sender.SenderIndex)
	case format.SenderNewMemberProposal:
		// RFC 9420 §12.1.8.2: a new member proposal is an Add of itself.
		if c.ContentType != format.ContentProposal || c.Proposal.Type != format.ProposalAdd {
			return nil, invalid("12.1.8", "new_member_proposal sender sent something other than an Add")
		}
		return c.Proposal.Add.KeyPackage.LeafNode.SignatureKey, nil
	case format.SenderNewMemberCommit:
		// RFC 9420 §12.4.3.2: an external commit carries the joiner's leaf.
		if c.ContentType != format.ContentCommit || c.Commit.Path == nil {
			return nil, invalid("12.4.3.2", "new_member_commit without a commit path")
		}
		return c.Commit.Path.LeafNode.SignatureKey, nil
	}
	return nil, invalid("6", "unknown sender type")
}

// validateProposal checks a single proposal against the current group
// (RFC 9420 §12.1, §12.2) before it is cached or committed.
func (g *Group) validateProposal(p *format.Proposal, sender format.Sender) error {
	switch p.Type {
	case format.ProposalAdd:
		// RFC 9420 §12.1.1: the KeyPackage is valid (§10.1).
		if err := validateKeyPackage(g.cfg, g.suite, &p.Add.KeyPackage, true); err != nil {
			return err
		}
		if err := checkRequiredCapabilities(g.ctx.Extensions, &p.Add.KeyPackage.LeafNode); err != nil {
			return err
		}
	case format.ProposalUpdate:
		// RFC 9420 §12.1.2: only members update, with a valid leaf of
		// source update.
		if sender.Type != format.SenderMember {
			return invalid("12.1.2", "update from a non-member")
		}
		if err := g.tree.ValidateLeafNode(&p.Update.LeafNode, treemath.LeafIndex(sender.LeafIndex), format.LeafSourceUpdate, g.leafPolicy(false)); err != nil {
			return invalidErr("12.1.2", "update leaf node", err)
		}
	case format.ProposalRemove:
		// RFC 9420 §12.1.3: the removed leaf is a member.
		if g.leafNode(p.Remove.Removed) == nil {
			return invalid("12.1.3", "remove of a blank or absent leaf")
		}
	case format.ProposalPreSharedKey:
		// RFC 9420 §12.1.4: the nonce has length Nh; resumption PSKs of
		// usage application only.
		id := &p.PreSharedKey.PSK
		if len(id.Nonce) != g.suite.HashLen() {
			return invalid("12.1.4", "PSK nonce length is not Nh")
		}
		// RFC 9420 §12.1.4: usage reinit or branch only in the first
		// commit of the successor group that the PSK links (§11.2, §11.3).
		if id.PSKType == format.PSKResumption && id.Usage != format.ResumptionApplication {
			if l := g.linked; l == nil || g.ctx.Epoch != 0 || id.Usage != l.ID.Usage {
				return invalid("12.1.4", "resumption PSK usage is not application")
			}
		}
	case format.ProposalReInit:
		// RFC 9420 §12.1.5: the version is not older than the group's.
		if p.ReInit.Version < format.MLS10 {
			return invalid("12.1.5", "ReInit to an older protocol version")
		}
	case format.ProposalExternalInit:
		// RFC 9420 §12.1.6: only in external commits, checked there.
	case format.ProposalGroupContextExtensions:
		// RFC 9420 §12.1.7 / §13.4: no duplicates; every member supports
		// every extension and the required capabilities.
		exts := p.GroupContextExtensions.Extensions
		if format.HasDuplicateExtensions(exts) {
			return invalid("13.4", "duplicate group context extensions")
		}
		for _, l := range g.tree.Members() {
			leaf := g.tree.Leaf(l)
			for _, e := range exts {
				if !supportsExtension(&leaf.Capabilities, e.Type) {
					return invalid("12.1.7", "a member does not support a proposed extension")
				}
			}
			if err := checkRequiredCapabilities(exts, leaf); err != nil {
				return err
			}
		}
	default:
		return invalid("12.1", "unknown proposal type")
	}
	return nil
}

// cacheProposal validates and stores a received proposal by reference
// (RFC 9420 §12.1).
func (g *Group) cacheProposal(ac *format.AuthenticatedContent) (*cachedProposal, error) {
	p := ac.Content.Proposal
	// RFC 9420 §12.1.6: ExternalInit only by value in external commits.
	if p.Type == format.ProposalExternalInit {
		return nil, invalid("12.1.6", "ExternalInit sent as a standalone proposal")
	}
	if err := g.validateProposal(p, ac.Content.Sender); err != nil {
		return nil, err
	}
	ref, err := g.proposalRef(ac)
	if err != nil {
		return nil, err
	}
	for _, c := range g.proposals {
		if bytes.Equal(c.ref, ref) {
			return nil, invalidErr("12.1", "proposal already received", ErrReplay)
		}
	}
	// RFC 9420 §12.1.8, docs/spec/mls-policy.md: a non-member's proposal
	// is cached only if the group policy accepts it.
	if err := g.admitProposal(p, ac.Content.Sender, ref); err != nil {
		return nil, err
	}
	cp := cachedProposal{ref: ref, proposal: p, sender: ac.Content.Sender}
	g.proposals = append(g.proposals, cp)
	return &cp, nil
}
