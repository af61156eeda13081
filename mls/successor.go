package mls

import (
	"bytes"
	"errors"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/tree"
)

// This file creates and joins the groups that succeed a group: the new
// group of a reinitialization (RFC 9420 §11.2) and a subgroup branched off
// it (§11.3). Both are linked to the old group by a resumption PSK of
// usage reinit or branch (§8.6) that every joiner must be able to derive
// from its own copy of the old group.

// ErrNoReInit: ReInitSuccessor or JoinReInit on a group in which no ReInit
// proposal was committed.
var ErrNoReInit = errors.New("mls: no ReInit committed in this group")

// successorLink is the old group a Welcome must link to, and how.
type successorLink struct {
	prev  *Group
	usage format.ResumptionPSKUsage
}

// ReInitSuccessor creates the group that replaces g after a ReInit commit
// was merged (RFC 9420 §11.2): its group id, cipher suite and extensions
// are the ReInit proposal's, id is our identity in the new cipher suite,
// and keyPackages (of that suite) add the other members. Its first commit
// carries the resumption PSK of usage reinit from g's last epoch (§8.6).
// The commit is pending in the new group: merge it once the delivery
// service accepts it, and send the Welcome.
func (g *Group) ReInitSuccessor(id *Identity, keyPackages [][]byte, opts CommitOptions) (*Group, *CommitResult, error) {
	ri := g.reinit
	if ri == nil {
		return nil, nil, ErrNoReInit
	}
	// RFC 9420 §11.2: the new group uses the proposed cipher suite.
	if uint16(id.CipherSuite) != uint16(ri.CipherSuite) {
		return nil, nil, invalid("11.2", "identity is not of the ReInit cipher suite")
	}
	cfg := g.cfg
	cfg.CipherSuite = CipherSuite(ri.CipherSuite)
	return g.successor(cfg, id, ri.GroupID, fromFormatExtensions(ri.Extensions), format.ResumptionReInit, keyPackages, opts)
}

// Branch creates a subgroup of g (RFC 9420 §11.3) with the given group id
// and extensions, in g's cipher suite, adding the owners of keyPackages,
// who must be members of g. Its first commit carries the resumption PSK of
// usage branch from g's current epoch. As with ReInitSuccessor, the commit
// is pending in the new group.
func (g *Group) Branch(id *Identity, groupID []byte, extensions []Extension, keyPackages [][]byte, opts CommitOptions) (*Group, *CommitResult, error) {
	if !g.active {
		return nil, nil, ErrInactive
	}
	for _, b := range keyPackages {
		kp, err := parseKeyPackage(b)
		if err != nil {
			return nil, nil, err
		}
		// RFC 9420 §11.3: a subgroup's members are members of the parent.
		if !g.hasCredential(&kp.LeafNode.Credential) {
			return nil, nil, invalid("11.3", "key package of a client that is not a member")
		}
	}
	return g.successor(g.cfg, id, groupID, extensions, format.ResumptionBranch, keyPackages, opts)
}

// successor makes the new group and its first commit with the linking
// resumption PSK (RFC 9420 §11.2, §11.3).
func (g *Group) successor(cfg Config, id *Identity, groupID []byte, exts []Extension, usage format.ResumptionPSKUsage, keyPackages [][]byte, opts CommitOptions) (*Group, *CommitResult, error) {
	psk := &schedule.PSK{
		ID:    format.PreSharedKeyID{PSKType: format.PSKResumption, Usage: usage, PSKGroupID: g.GroupID(), PSKEpoch: g.ctx.Epoch},
		Value: append([]byte(nil), g.epoch.ResumptionPSK...),
	}
	ng, err := CreateGroup(cfg, id, groupID, exts...)
	if err != nil {
		return nil, nil, err
	}
	ng.linked = psk
	pid := psk.ID
	// RFC 9420 §8.4: a fresh psk_nonce of length Nh.
	if pid.Nonce, err = cfg.randomBytes(ng.suite.HashLen()); err != nil {
		return nil, nil, err
	}
	opts.AddKeyPackages = append(append([][]byte(nil), opts.AddKeyPackages...), keyPackages...)
	res, err := ng.commit(opts, []*format.Proposal{{Type: format.ProposalPreSharedKey, PreSharedKey: &format.PreSharedKeyProposal{PSK: pid}}})
	if err != nil {
		return nil, nil, err
	}
	return ng, res, nil
}

// JoinReInit joins the group that replaces old after a ReInit (RFC 9420
// §11.2) from its Welcome; id and kp are of the new cipher suite. It checks
// that the Welcome carries the reinit PSK of old's last epoch and that the
// new group has the parameters of old's ReInit proposal.
func JoinReInit(cfg Config, id *Identity, kp *KeyPackageBundle, welcome []byte, old *Group, opts JoinOptions) (*Group, error) {
	if old.reinit == nil {
		return nil, ErrNoReInit
	}
	return joinWelcome(cfg, id, kp, welcome, opts, &successorLink{prev: old, usage: format.ResumptionReInit})
}

// JoinBranch joins a subgroup of parent (RFC 9420 §11.3) from its Welcome.
// It checks that the Welcome carries a branch PSK of parent, that the
// subgroup keeps parent's cipher suite and version, and that its members
// are members of parent.
func JoinBranch(cfg Config, id *Identity, kp *KeyPackageBundle, welcome []byte, parent *Group, opts JoinOptions) (*Group, error) {
	return joinWelcome(cfg, id, kp, welcome, opts, &successorLink{prev: parent, usage: format.ResumptionBranch})
}

// resolve returns the value of a PSK for a joiner: the linked group's
// resumption PSKs, then external ones (RFC 9420 §8.4).
func (l *successorLink) resolve(cfg Config, id *format.PreSharedKeyID) ([]byte, error) {
	if l != nil && id.PSKType == format.PSKResumption && id.Usage == l.usage {
		return l.prev.resolvePSK(id)
	}
	return resolvePSKWith(cfg, nil, 0, nil, nil, id)
}

// checkLinkPSKs implements the Welcome check of RFC 9420 §12.4.3.1: at
// most one resumption PSK of usage reinit or branch, and with one the
// joined epoch is 1. It returns that PSK, or nil.
func checkLinkPSKs(psks []format.PreSharedKeyID, gc *format.GroupContext) (*format.PreSharedKeyID, error) {
	var link *format.PreSharedKeyID
	for i := range psks {
		if psks[i].PSKType == format.PSKResumption && psks[i].Usage != format.ResumptionApplication {
			if link != nil {
				return nil, invalid("12.4.3.1", "several reinit or branch PSKs")
			}
			link = &psks[i]
		}
	}
	if link != nil && gc.Epoch != 1 {
		return nil, invalid("12.4.3.1", "reinit or branch PSK in a Welcome to an epoch other than 1")
	}
	return link, nil
}

// check verifies that a joined group is the successor l expects
// (RFC 9420 §11.2, §11.3); psk is the Welcome's reinit or branch PSK.
func (l *successorLink) check(psk *format.PreSharedKeyID, gc *format.GroupContext, t *tree.Tree) error {
	p := l.prev
	if psk == nil || psk.Usage != l.usage || !bytes.Equal(psk.PSKGroupID, p.ctx.GroupID) {
		return invalid("11.2", "welcome does not carry the PSK linking it to the previous group")
	}
	if l.usage == format.ResumptionReInit {
		ri := p.reinit
		// RFC 9420 §11.2: the PSK is of the old group's last epoch and
		// the new group has the parameters of the ReInit proposal.
		if psk.PSKEpoch != p.ctx.Epoch {
			return invalid("11.2", "reinit PSK is not of the old group's last epoch")
		}
		if !bytes.Equal(gc.GroupID, ri.GroupID) || gc.Version != ri.Version || gc.CipherSuite != ri.CipherSuite ||
			!bytes.Equal(codec.MustMarshal(extensionList(gc.Extensions)), codec.MustMarshal(extensionList(ri.Extensions))) {
			return invalid("11.2", "new group does not have the ReInit parameters")
		}
		return nil
	}
	// RFC 9420 §11.3: same cipher suite and version; members of the
	// parent only.
	if gc.CipherSuite != p.ctx.CipherSuite || gc.Version != p.ctx.Version {
		return invalid("11.3", "subgroup changes the cipher suite or version")
	}
	for _, m := range t.Members() {
		if !p.hasCredential(&t.Leaf(m).Credential) {
			return invalid("11.3", "subgroup member is not a member of the parent group")
		}
	}
	return nil
}

// hasCredential reports whether a member of g has credential c.
func (g *Group) hasCredential(c *format.Credential) bool {
	for _, m := range g.tree.Members() {
		if sameCredential(&g.tree.Leaf(m).Credential, c) {
			return true
		}
	}
	return false
}

// extensionList encodes as an extension vector.
type extensionList []format.Extension

func (e extensionList) MarshalMLS(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for i := range e {
			e[i].MarshalMLS(w)
		}
	})
}

func fromFormatExtensions(exts []format.Extension) []Extension {
	out := make([]Extension, 0, len(exts))
	for _, e := range exts {
		out = append(out, Extension{Type: uint16(e.Type), Data: append([]byte{}, e.Data...)})
	}
	return out
}
