package mls

import (
	"bytes"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/tree"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// JoinOptions tunes JoinFromWelcome.
type JoinOptions struct {
	// RatchetTree is the group's ratchet tree (the ratchet_tree extension
	// data, RFC 9420 §12.4.3.3) when the GroupInfo does not carry it.
	RatchetTree []byte
}

// JoinFromWelcome joins a group from a Welcome addressed to kp, which must
// be a KeyPackage of id (RFC 9420 §12.4.3.1).
//
// A Welcome to the successor of a group (ReInit or branch) needs that
// group: use JoinReInit or JoinBranch.
func JoinFromWelcome(cfg Config, id *Identity, kp *KeyPackageBundle, welcome []byte, opts JoinOptions) (*Group, error) {
	return joinWelcome(cfg, id, kp, welcome, opts, nil)
}

// joinWelcome joins from a Welcome; link, if set, is the group the new one
// must succeed (RFC 9420 §11.2, §11.3).
func joinWelcome(cfg Config, id *Identity, kp *KeyPackageBundle, welcome []byte, opts JoinOptions, link *successorLink) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kpkg, err := parseKeyPackage(kp.Message)
	if err != nil {
		return nil, err
	}
	s, err := getSuite(CipherSuite(kpkg.CipherSuite))
	if err != nil {
		return nil, err
	}
	m, err := parseMessage(welcome, format.WireWelcome)
	if err != nil {
		return nil, err
	}
	ref, err := keyPackageRef(s, kpkg)
	if err != nil {
		return nil, err
	}
	resolve := func(id *format.PreSharedKeyID) ([]byte, error) { return link.resolve(cfg, id) }
	ow, err := openWelcome(s, m.Welcome, ref, kp.InitPrivateKey, resolve)
	if err != nil {
		return nil, err
	}
	gi := ow.groupInfo
	linkPSK, err := checkLinkPSKs(ow.secrets.PSKs, &gi.GroupContext)
	if err != nil {
		return nil, err
	}
	t, err := joinTree(s, gi, opts.RatchetTree)
	if err != nil {
		return nil, err
	}
	if link != nil {
		if err := link.check(linkPSK, &gi.GroupContext, t); err != nil {
			return nil, err
		}
	}
	g, err := joiningGroup(cfg, id, s, gi, t, "12.4.3.1")
	if err != nil {
		return nil, err
	}
	g.inviter = gi.Signer
	// RFC 9420 §12.4.3.1: find our leaf, the KeyPackage's leaf node.
	own, ok := findLeaf(t, &kpkg.LeafNode)
	if !ok {
		return nil, invalid("12.4.3.1", "our key package's leaf is not in the tree")
	}
	// The group keeps its own copy: the caller may wipe the bundle once the
	// join succeeded (a one-time KeyPackage must not be reused, RFC 9420 §16.8).
	g.priv = tree.NewPrivate(own, bytes.Clone(kp.EncryptionPrivateKey))
	// RFC 9420 §12.4.3.1: implant the path secret at the lowest common
	// ancestor of our leaf and the signer's, and check the derived keys.
	if ow.secrets.PathSecret != nil {
		x := treemath.CommonAncestor(treemath.NodeOf(own), treemath.NodeOf(treemath.LeafIndex(gi.Signer)))
		if err := g.priv.Implant(t, x, ow.secrets.PathSecret); err != nil {
			return nil, invalidErr("12.4.3.1", "path secret", err)
		}
	}
	if err := g.priv.Check(t); err != nil {
		return nil, invalidErr("12.4.3.1", "path secret or leaf key does not match the tree", err)
	}
	if err := g.setEpoch(ow.epoch); err != nil {
		return nil, err
	}
	return g, nil
}

// joiningGroup runs the checks a joiner makes of a GroupInfo and its
// tree before trusting either (RFC 9420 §12.4.3.1; section names the
// clause that calls for them): the signer is a member whose leaf key signed
// the GroupInfo, and the tree is valid and hashes to the GroupContext's
// tree hash. It returns the group as of the GroupInfo's epoch, with its
// confirmation tag and interim transcript hash but without private keys or
// epoch secrets.
func joiningGroup(cfg Config, id *Identity, s *suite.Suite, gi *format.GroupInfo, t *tree.Tree, section string) (*Group, error) {
	signer := t.Leaf(treemath.LeafIndex(gi.Signer))
	if signer == nil {
		return nil, invalid(section, "group info signer is not a member")
	}
	if err := verifyGroupInfoSignature(s, gi, signer.SignatureKey); err != nil {
		return nil, err
	}
	g := &Group{cfg: cfg, suite: s, sig: id.SignaturePrivateKey, active: true, ctx: gi.GroupContext, tree: t, tag: gi.ConfirmationTag}
	// RFC 9420 §12.4.3.1: the tree is valid and matches the tree hash.
	if err := t.Validate(gi.GroupContext.TreeHash, g.leafPolicy(false)); err != nil {
		return nil, invalidErr("12.4.3.1", "ratchet tree", err)
	}
	interim, err := schedule.InterimTranscriptHash(s, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		return nil, err
	}
	g.interim = interim
	return g, nil
}

// joinTree takes the ratchet tree from the GroupInfo's ratchet_tree
// extension or from the out-of-band copy (RFC 9420 §12.4.3.3).
func joinTree(s *suite.Suite, gi *format.GroupInfo, oob []byte) (*tree.Tree, error) {
	// RFC 9420 §13.4: no duplicate GroupInfo extensions.
	if format.HasDuplicateExtensions(gi.Extensions) {
		return nil, invalid("13.4", "duplicate group info extensions")
	}
	data := oob
	if e := format.FindExtension(gi.Extensions, format.ExtRatchetTree); e != nil {
		data = e.Data
	}
	if data == nil {
		return nil, invalid("12.4.3.3", "no ratchet tree in the group info and none given")
	}
	var rt format.RatchetTree
	if err := codec.Unmarshal(data, &rt); err != nil {
		return nil, invalidErr("12.4.3.3", "malformed ratchet tree", ErrMalformed)
	}
	t, err := tree.FromRatchetTree(s, rt)
	if err != nil {
		return nil, invalidErr("12.4.3.3", "ratchet tree shape", err)
	}
	return t, nil
}

// findLeaf finds the leaf equal to leaf.
func findLeaf(t *tree.Tree, leaf *format.LeafNode) (treemath.LeafIndex, bool) {
	want, err := codec.Marshal(leaf)
	if err != nil {
		return 0, false
	}
	for _, l := range t.Members() {
		got, err := codec.Marshal(t.Leaf(l))
		if err == nil && bytes.Equal(got, want) {
			return l, true
		}
	}
	return 0, false
}
