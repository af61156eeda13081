package mls

import (
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/tree"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// pendingCommit is a commit we sent that awaits the delivery service's
// verdict: MergePendingCommit installs next, ClearPendingCommit drops it.
type pendingCommit struct {
	next *Group
}

// CommitOptions tunes Commit.
type CommitOptions struct {
	SendOptions
	// AddKeyPackages are Add proposals included by value.
	AddKeyPackages [][]byte
	// RemoveLeaves are Remove proposals included by value.
	RemoveLeaves []uint32
	// Proposals names, by ProposalInfo.Ref (Group.CachedProposals), the
	// cached proposals of other senders to commit. Our own proposals are
	// always committed; another sender's only if named here or accepted
	// by Config.Policy.AcceptProposal (docs/spec/mls-policy.md).
	Proposals [][]byte
	// ForcePath includes an UpdatePath even when no proposal requires one
	// (RFC 9420 §12.4), refreshing our leaf key.
	ForcePath bool
	// Identity, if set, puts a new signature key and credential into our
	// leaf through the commit's path (RFC 9420 §12.1.2, §12.4), which it
	// forces; we sign with it from the new epoch on.
	Identity *Identity
	// RatchetTreeInWelcome puts the ratchet_tree extension into the
	// Welcome's GroupInfo (RFC 9420 §12.4.3.3); otherwise new members need
	// the tree out of band (Group.RatchetTree).
	RatchetTreeInWelcome bool
}

// CommitResult is what Commit produces.
type CommitResult struct {
	// Commit is the MLSMessage to send to the group.
	Commit []byte
	// Welcome is the MLSMessage(Welcome) for the added members, or nil.
	Welcome []byte
}

// Commit commits our own cached proposals, the cached proposals of others
// that opts.Proposals names or the group policy accepts, and the inline
// ones of opts (RFC 9420 §12.4; docs/spec/mls-policy.md). The commit stays
// pending: call MergePendingCommit once the delivery service accepted it,
// or ClearPendingCommit if it rejected it.
func (g *Group) Commit(opts CommitOptions) (*CommitResult, error) {
	return g.commit(opts, nil)
}

// commit is Commit with extra proposals included by value (the resumption
// PSK of a successor group, §11.2, §11.3).
func (g *Group) commit(opts CommitOptions, extra []*format.Proposal) (*CommitResult, error) {
	if err := g.canSend(); err != nil {
		return nil, err
	}
	self := format.Sender{Type: format.SenderMember, LeafIndex: uint32(g.priv.Leaf)}
	pl, err := g.planCommit(opts, extra, self)
	if err != nil {
		return nil, err
	}
	c, props, leafTmpl, signer := pl.c, pl.props, pl.leafTmpl, pl.signer
	ec := &epochChange{next: g.clone(), committer: self, props: props}
	if err := ec.validateProposalList(g); err != nil {
		return nil, err
	}
	if err := ec.applyProposals(); err != nil {
		return nil, err
	}
	var commitSecret []byte
	var result *tree.CommitResult
	if opts.ForcePath || pl.ownUpdate || leafTmpl != nil || pathRequired(props) {
		ctx := ec.provisionalContext()
		var err error
		result, err = ec.next.tree.CreateUpdatePath(&tree.CommitParams{
			Sender: g.priv.Leaf, Leaf: leafTmpl, SignatureKey: signer, Exclude: ec.added, Context: &ctx, Rand: g.cfg.rand(),
		})
		if err != nil {
			return nil, err
		}
		c.Path, commitSecret = result.Path, result.CommitSecret
		// RFC 9420 §12.1.2: from the new epoch on we sign with the key
		// of our new leaf; the commit itself is signed with the old one.
		ec.next.priv, ec.next.sig = result.Private, signer
	}
	ac, err := g.signContent(opts.Public, opts.AuthenticatedData, func(fc *format.FramedContent) {
		fc.ContentType, fc.Commit = format.ContentCommit, c
	})
	if err != nil {
		return nil, err
	}
	// RFC 9420 §6.1: the confirmation tag is set before framing.
	if err := ec.newEpoch(g, ac, commitSecret); err != nil {
		return nil, err
	}
	msg, err := g.protect(ac)
	if err != nil {
		return nil, err
	}
	out := &CommitResult{Commit: msg}
	if len(ec.added) > 0 {
		if out.Welcome, err = ec.welcome(result, opts.RatchetTreeInWelcome); err != nil {
			return nil, err
		}
	}
	g.pending = &pendingCommit{next: ec.next}
	return out, nil
}

// commitPlan is what a commit carries (its proposals, by reference and by
// value) and how our own leaf changes with it.
type commitPlan struct {
	c         *format.Commit
	props     []resolvedProposal
	ownUpdate bool             // a cached Update of ours: refreshed with a path instead
	leafTmpl  *format.LeafNode // our new leaf's identity, if it changes
	signer    []byte           // the signature key of our leaf from the new epoch on
}

func (pl *commitPlan) add(p *format.Proposal, sender format.Sender) {
	pl.c.Proposals = append(pl.c.Proposals, format.ProposalOrRef{Type: format.ProposalOrRefProposal, Proposal: p})
	pl.props = append(pl.props, resolvedProposal{p: p, sender: sender})
}

// planCommit gathers the commit's proposals: the cached ones chosen (and
// our own), then the Adds, Removes and extra proposals by value.
func (g *Group) planCommit(opts CommitOptions, extra []*format.Proposal, self format.Sender) (*commitPlan, error) {
	pl := &commitPlan{c: &format.Commit{Proposals: []format.ProposalOrRef{}}, signer: g.sig}
	if opts.Identity != nil {
		var err error
		if pl.leafTmpl, pl.signer, err = g.newOwnLeaf(opts.Identity); err != nil {
			return nil, err
		}
	}
	if err := g.planCached(pl, opts, self); err != nil {
		return nil, err
	}
	for _, kp := range opts.AddKeyPackages {
		p, err := g.addProposal(kp)
		if err != nil {
			return nil, err
		}
		pl.add(p, self)
	}
	for _, l := range opts.RemoveLeaves {
		pl.add(&format.Proposal{Type: format.ProposalRemove, Remove: &format.RemoveProposal{Removed: l}}, self)
	}
	for _, p := range extra {
		pl.add(p, self)
	}
	return pl, nil
}

// planCached adds the cached proposals the commit takes, by reference.
func (g *Group) planCached(pl *commitPlan, opts CommitOptions, self format.Sender) error {
	chosen := map[string]bool{}
	for _, r := range opts.Proposals {
		chosen[string(r)] = true
	}
	for i := range g.proposals {
		cp := &g.proposals[i]
		// docs/spec/mls-policy.md: nothing is committed merely because it
		// is cached.
		if cp.sender != self && !g.chooseProposal(cp, chosen) {
			continue
		}
		// RFC 9420 §12.2, §12.4: never commit our own Update; leave it
		// out and refresh our leaf with a path instead, keeping the new
		// identity the Update proposed.
		if cp.proposal.Type == format.ProposalUpdate && cp.sender == self {
			pl.ownUpdate = true
			if cp.updateSig != nil && opts.Identity == nil {
				l := cp.proposal.Update.LeafNode
				pl.leafTmpl, pl.signer = &l, cp.updateSig
			}
			continue
		}
		pl.c.Proposals = append(pl.c.Proposals, format.ProposalOrRef{Type: format.ProposalOrRefReference, Reference: cp.ref})
		pl.props = append(pl.props, resolvedProposal{p: cp.proposal, sender: cp.sender, byRef: true})
	}
	if len(chosen) > 0 {
		return fmt.Errorf("mls: committing: %d chosen proposals are not cached in this epoch", len(chosen))
	}
	return nil
}

// MergePendingCommit moves the group to the epoch of its pending commit.
func (g *Group) MergePendingCommit() error {
	if g.pending == nil {
		return ErrNoPendingCommit
	}
	g.install(g.pending.next)
	return nil
}

// ClearPendingCommit drops the pending commit (the delivery service
// rejected it); the cached proposals stay so they can be committed again.
func (g *Group) ClearPendingCommit() { g.pending = nil }

// HasPendingCommit reports whether a commit awaits merging.
func (g *Group) HasPendingCommit() bool { return g.pending != nil }

// groupInfo builds and signs the GroupInfo of the staged epoch (RFC 9420
// §12.4.3).
func (n *Group) groupInfo(withTree, withExternalPub bool) (*format.GroupInfo, error) {
	gi := &format.GroupInfo{GroupContext: n.ctx, Extensions: []format.Extension{}, ConfirmationTag: n.tag, Signer: uint32(n.priv.Leaf)}
	if withTree {
		rt := n.tree.RatchetTree()
		b, err := codec.Marshal(&rt)
		if err != nil {
			return nil, fmt.Errorf("mls: encoding ratchet tree: %w", err)
		}
		gi.Extensions = append(gi.Extensions, format.Extension{Type: format.ExtRatchetTree, Data: b})
	}
	if withExternalPub {
		_, pub, err := n.epoch.ExternalKeyPair()
		if err != nil {
			return nil, err
		}
		gi.Extensions = append(gi.Extensions, format.Extension{Type: format.ExtExternalPub, Data: codec.MustMarshal(&format.ExternalPub{PublicKey: pub})})
	}
	var err error
	if gi.Signature, err = n.suite.SignWithLabel(n.sig, "GroupInfoTBS", gi.TBS()); err != nil {
		return nil, fmt.Errorf("mls: signing group info: %w", err)
	}
	return gi, nil
}

// welcome builds the Welcome for the members this commit adds
// (RFC 9420 §12.4.3.1).
func (ec *epochChange) welcome(path *tree.CommitResult, withTree bool) ([]byte, error) {
	n := ec.next
	s := n.suite
	gi, err := n.groupInfo(withTree, false)
	if err != nil {
		return nil, err
	}
	giBytes, err := codec.Marshal(gi)
	if err != nil {
		return nil, fmt.Errorf("mls: encoding group info: %w", err)
	}
	key, nonce := n.epoch.WelcomeKeyNonce()
	encGI, err := s.Seal(key, nonce, nil, giBytes)
	if err != nil {
		return nil, err
	}
	w := &format.Welcome{CipherSuite: n.ctx.CipherSuite, Secrets: []format.EncryptedGroupSecrets{}, EncryptedGroupInfo: encGI}
	for i, l := range ec.added {
		gs := &format.GroupSecrets{JoinerSecret: n.epoch.JoinerSecret, PSKs: ec.psks}
		if gs.PSKs == nil {
			gs.PSKs = []format.PreSharedKeyID{}
		}
		if path != nil {
			// RFC 9420 §12.4.3.1: the path secret of the lowest common
			// ancestor of the committer and the new member.
			if _, secret, ok := path.Private.PathSecretFor(treemath.LeafIndex(l)); ok {
				gs.PathSecret = secret
			}
		}
		pt, err := codec.Marshal(gs)
		if err != nil {
			return nil, fmt.Errorf("mls: encoding group secrets: %w", err)
		}
		kp := ec.addedKPs[i]
		kem, ct, err := s.EncryptWithLabel(kp.InitKey, "Welcome", encGI, pt)
		if err != nil {
			return nil, fmt.Errorf("mls: encrypting group secrets: %w", err)
		}
		ref, err := keyPackageRef(s, kp)
		if err != nil {
			return nil, err
		}
		w.Secrets = append(w.Secrets, format.EncryptedGroupSecrets{NewMember: ref, EncryptedGroupSecrets: format.HPKECiphertext{KEMOutput: kem, Ciphertext: ct}})
	}
	b, err := codec.Marshal(&format.MLSMessage{Version: format.MLS10, WireFormat: format.WireWelcome, Welcome: w})
	if err != nil {
		return nil, fmt.Errorf("mls: encoding welcome: %w", err)
	}
	return b, nil
}

// GroupInfo returns a signed MLSMessage(GroupInfo) of the current epoch
// with the external_pub extension, for external joiners (RFC 9420
// §12.4.3.2); withTree adds the ratchet_tree extension.
func (g *Group) GroupInfo(withTree bool) ([]byte, error) {
	gi, err := g.groupInfo(withTree, true)
	if err != nil {
		return nil, err
	}
	b, err := codec.Marshal(&format.MLSMessage{Version: format.MLS10, WireFormat: format.WireGroupInfo, GroupInfo: gi})
	if err != nil {
		return nil, fmt.Errorf("mls: encoding group info: %w", err)
	}
	return b, nil
}

// RatchetTree returns the ratchet_tree extension data of the current epoch
// for out-of-band delivery to joiners (RFC 9420 §12.4.3.3).
func (g *Group) RatchetTree() ([]byte, error) {
	rt := g.tree.RatchetTree()
	return codec.Marshal(&rt)
}

// Encrypt protects an application message as a PrivateMessage (RFC 9420
// §6.3).
func (g *Group) Encrypt(plaintext, authenticatedData []byte) ([]byte, error) {
	if err := g.canSend(); err != nil {
		return nil, err
	}
	// RFC 9420 §6: application data is always a PrivateMessage.
	ac, err := g.signContent(false, authenticatedData, func(fc *format.FramedContent) {
		fc.ContentType, fc.Application = format.ContentApplication, append([]byte{}, plaintext...)
	})
	if err != nil {
		return nil, err
	}
	return g.protect(ac)
}
