package mls

import (
	"bytes"
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/tree"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// Group is one member's view of an MLS group. It is not safe for
// concurrent use. Every method that fails leaves the group unchanged.
type Group struct {
	cfg   Config
	suite *suite.Suite
	sig   []byte // our signature private key

	ctx     format.GroupContext
	tree    *tree.Tree
	priv    *tree.Private
	epoch   *schedule.Epoch
	secrets *schedule.SecretTree
	interim []byte // interim transcript hash
	tag     []byte // confirmation tag of the current epoch

	proposals  []cachedProposal // proposals received or sent this epoch
	pending    *pendingCommit
	resumption []resumptionPSK // most recent last
	past       []pastEpoch     // kept past epochs, most recent last
	active     bool
	reinit     *format.ReInitProposal // set after a ReInit commit
	// linked is the resumption PSK of the group this one succeeds (ReInit
	// or branch), usable only by its creator's first commit (§11.2, §11.3).
	linked *schedule.PSK
	// inviter is the leaf that signed the GroupInfo of the Welcome this
	// group was joined from (the committer that added us); not persisted.
	inviter uint32
}

// Inviter returns the leaf index of the member whose commit added us,
// for a group just joined from a Welcome (the GroupInfo's signer, RFC 9420
// §12.4.3.1); 0 otherwise. It is not kept across Marshal/Restore.
func (g *Group) Inviter() uint32 { return g.inviter }

// cachedProposal is a proposal of the current epoch, kept by reference
// (RFC 9420 §12.1).
type cachedProposal struct {
	ref      []byte
	proposal *format.Proposal
	sender   format.Sender
	// updatePriv is our new leaf private key if this is our own Update;
	// updateSig our new signature private key if the Update changes it.
	updatePriv, updateSig []byte
}

// resumptionPSK is the resumption_psk of a past epoch (RFC 9420 §8.6).
type resumptionPSK struct {
	epoch uint64
	psk   []byte
}

// Member is one member of the group.
type Member struct {
	LeafIndex          uint32
	Identity           []byte // the basic credential's identity
	SignaturePublicKey []byte
	EncryptionKey      []byte
}

// CreateGroup makes a one-member group at epoch 0 (RFC 9420 §11) with id as
// its creator. extensions become the GroupContext extensions.
func CreateGroup(cfg Config, id *Identity, groupID []byte, extensions ...Extension) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := getSuite(id.CipherSuite)
	if err != nil {
		return nil, err
	}
	encPriv, encPub, err := s.GenerateKeyPair(cfg.rand())
	if err != nil {
		return nil, fmt.Errorf("mls: creating group: %w", err)
	}
	exts := toFormatExtensions(extensions)
	// RFC 9420 §13.4: no duplicate extensions.
	if format.HasDuplicateExtensions(exts) {
		return nil, invalid("13.4", "duplicate group context extensions")
	}
	leaf := &format.LeafNode{
		EncryptionKey: encPub,
		SignatureKey:  id.SignaturePublicKey,
		Credential:    id.credential(),
		Capabilities:  supportedCapabilities(id.CipherSuite),
		Source:        format.LeafSourceKeyPackage,
		Lifetime:      format.Lifetime{NotBefore: 0, NotAfter: ^uint64(0)},
		Extensions:    []format.Extension{},
	}
	// RFC 9420 §11.1, §7.2: the creator supports the group's non-default
	// extensions and its required_capabilities.
	for _, e := range exts {
		if !supportsExtension(&leaf.Capabilities, e.Type) {
			return nil, invalid("11.1", "creator does not support a group context extension")
		}
	}
	if err := checkRequiredCapabilities(exts, leaf); err != nil {
		return nil, err
	}
	if leaf.Signature, err = s.SignWithLabel(id.SignaturePrivateKey, "LeafNodeTBS", leaf.TBS(nil, 0)); err != nil {
		return nil, fmt.Errorf("mls: creating group: signing leaf: %w", err)
	}
	g := &Group{cfg: cfg, suite: s, sig: id.SignaturePrivateKey, active: true}
	g.tree = tree.New(s, leaf)
	g.priv = tree.NewPrivate(0, encPriv)
	// RFC 9420 §11: epoch 0 with an empty confirmed transcript hash and a
	// random init secret.
	g.ctx = format.GroupContext{
		Version: format.MLS10, CipherSuite: format.CipherSuite(id.CipherSuite),
		GroupID: append([]byte(nil), groupID...), Epoch: 0,
		TreeHash: g.tree.TreeHash(), ConfirmedTranscriptHash: []byte{}, Extensions: exts,
	}
	initSecret, err := cfg.randomBytes(s.HashLen())
	if err != nil {
		return nil, err
	}
	gc, err := codec.Marshal(&g.ctx)
	if err != nil {
		return nil, fmt.Errorf("mls: creating group: %w", err)
	}
	ep, err := schedule.New(s, initSecret, nil, nil, gc)
	if err != nil {
		return nil, err
	}
	g.tag = schedule.ConfirmationTag(s, ep.ConfirmationKey, g.ctx.ConfirmedTranscriptHash)
	if g.interim, err = schedule.InterimTranscriptHash(s, g.ctx.ConfirmedTranscriptHash, g.tag); err != nil {
		return nil, err
	}
	if err := g.setEpoch(ep); err != nil {
		return nil, err
	}
	return g, nil
}

// setEpoch installs the key schedule of the current epoch and its secret
// tree.
func (g *Group) setEpoch(ep *schedule.Epoch) error {
	st, err := ep.SecretTree(g.tree.NumLeaves(), g.secretTreeConfig())
	if err != nil {
		return err
	}
	g.epoch, g.secrets = ep, st
	return nil
}

func (g *Group) secretTreeConfig() schedule.Config {
	return schedule.Config{MaxForward: g.cfg.maxForward(), MaxPast: uint32(g.cfg.outOfOrder())}
}

// Extension is a GroupContext or GroupInfo extension (RFC 9420 §13).
type Extension struct {
	Type uint16
	Data []byte
}

func toFormatExtensions(exts []Extension) []format.Extension {
	out := make([]format.Extension, 0, len(exts))
	for _, e := range exts {
		out = append(out, format.Extension{Type: format.ExtensionType(e.Type), Data: append([]byte{}, e.Data...)})
	}
	return out
}

// ExternalSendersExtension builds the external_senders extension
// (RFC 9420 §12.1.8.1) from the senders' signature keys and identities.
func ExternalSendersExtension(senders ...Member) Extension {
	es := make(format.ExternalSenders, 0, len(senders))
	for _, s := range senders {
		es = append(es, format.ExternalSender{SignatureKey: s.SignaturePublicKey, Credential: format.Credential{Type: format.CredentialBasic, Identity: s.Identity}})
	}
	return Extension{Type: uint16(format.ExtExternalSenders), Data: codec.MustMarshal(&es)}
}

// GroupID returns the group's id.
func (g *Group) GroupID() []byte { return append([]byte(nil), g.ctx.GroupID...) }

// Epoch returns the current epoch.
func (g *Group) Epoch() uint64 { return g.ctx.Epoch }

// CipherSuite returns the group's cipher suite.
func (g *Group) CipherSuite() CipherSuite { return CipherSuite(g.ctx.CipherSuite) }

// EpochAuthenticator returns the epoch_authenticator of the current epoch
// (RFC 9420 §8.7); members compare it out of band to detect a split.
func (g *Group) EpochAuthenticator() []byte {
	return append([]byte(nil), g.epoch.EpochAuthenticator...)
}

// Export returns MLS-Exporter(label, context, length) (RFC 9420 §8.5).
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	return g.epoch.Export(label, context, length)
}

// OwnLeafIndex returns our leaf index.
func (g *Group) OwnLeafIndex() uint32 { return uint32(g.priv.Leaf) }

// Active reports whether we are still a member of the group.
func (g *Group) Active() bool { return g.active }

// Members returns the current members in leaf order.
func (g *Group) Members() []Member {
	var out []Member
	for _, l := range g.tree.Members() {
		leaf := g.tree.Leaf(l)
		out = append(out, Member{LeafIndex: uint32(l), Identity: leaf.Credential.Identity, SignaturePublicKey: leaf.SignatureKey, EncryptionKey: leaf.EncryptionKey})
	}
	return out
}

// Extensions returns the GroupContext extensions.
func (g *Group) Extensions() []Extension {
	return fromFormatExtensions(g.ctx.Extensions)
}

// resolvePSK returns the value of a PSK this member can use (RFC 9420
// §8.4): external PSKs from the Config's store, resumption PSKs of this
// group's current or kept past epochs.
func (g *Group) resolvePSK(id *format.PreSharedKeyID) ([]byte, error) {
	if l := g.linked; l != nil && g.ctx.Epoch == 0 && id.PSKType == format.PSKResumption &&
		id.Usage == l.ID.Usage && bytes.Equal(id.PSKGroupID, l.ID.PSKGroupID) && id.PSKEpoch == l.ID.PSKEpoch {
		return l.Value, nil
	}
	var current []byte
	if g.epoch != nil {
		current = g.epoch.ResumptionPSK
	}
	return resolvePSKWith(g.cfg, g.ctx.GroupID, g.ctx.Epoch, current, g.resumption, id)
}

func resolvePSKWith(cfg Config, groupID []byte, epoch uint64, current []byte, past []resumptionPSK, id *format.PreSharedKeyID) ([]byte, error) {
	switch id.PSKType {
	case format.PSKExternal:
		if v, ok := cfg.externalPSK(id.PSKID); ok {
			return v, nil
		}
	case format.PSKResumption:
		if !bytes.Equal(id.PSKGroupID, groupID) {
			break
		}
		if id.PSKEpoch == epoch && current != nil {
			return current, nil
		}
		for _, r := range past {
			if r.epoch == id.PSKEpoch {
				return r.psk, nil
			}
		}
	}
	return nil, invalidErr("8.4", "PSK not available", ErrUnknownPSK)
}

// leafNode returns the member at leaf l, or nil.
func (g *Group) leafNode(l uint32) *format.LeafNode { return g.tree.Leaf(treemath.LeafIndex(l)) }

// clone returns a copy of g whose mutable parts can change without
// affecting g (used to stage a commit).
func (g *Group) clone() *Group {
	c := *g
	c.tree = g.tree.Clone()
	c.priv = g.priv.Clone()
	c.proposals = append([]cachedProposal(nil), g.proposals...)
	c.resumption = append([]resumptionPSK(nil), g.resumption...)
	c.past = append([]pastEpoch(nil), g.past...)
	return &c
}
