package tree

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// Sentinel errors of the tree checks; a *ValidationError wraps one of them.
var (
	ErrTreeHash         = errors.New("tree hash does not match the GroupContext")
	ErrParentHash       = errors.New("parent hash invalid")
	ErrUnmergedLeaves   = errors.New("unmerged leaves inconsistent")
	ErrLeafSignature    = errors.New("leaf node signature invalid")
	ErrLeafSource       = errors.New("leaf node source not allowed here")
	ErrLeafLifetime     = errors.New("leaf node lifetime does not cover the current time")
	ErrLeafCapabilities = errors.New("leaf node capabilities insufficient")
	ErrLeafExtensions   = errors.New("leaf node extension not listed in its capabilities")
	ErrLeafCredential   = errors.New("leaf node credential rejected")
	ErrDuplicateKey     = errors.New("key not unique in the tree")
	ErrPublicKey        = errors.New("malformed HPKE public key")
)

// ValidationError names the RFC 9420 check that failed and where.
type ValidationError struct {
	Check string    // the RFC 9420 section, e.g. "§7.9.2"
	Node  NodeIndex // the node the check failed on
	Err   error     // one of the sentinel errors above
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("mls: validating ratchet tree: node %d: RFC 9420 %s: %v", e.Node, e.Check, e.Err)
}

func (e *ValidationError) Unwrap() error { return e.Err }

func vErr(check string, x NodeIndex, err error) error {
	return &ValidationError{Check: check, Node: x, Err: err}
}

// LeafPolicy carries the group parameters that leaf node validation needs
// (RFC 9420 §7.3).
type LeafPolicy struct {
	// GroupID is the group's id, part of the LeafNodeTBS of update and
	// commit leaves (RFC 9420 §7.2).
	GroupID []byte
	// Required is the group's required_capabilities, or nil.
	Required *format.RequiredCapabilities
	// Now is the current time for the lifetime check of key_package
	// leaves; the zero time skips the check (for leaves already in a tree,
	// whose key packages may have expired since they were added).
	Now time.Time
	// ValidateCredential, if set, is the Authentication Service check of
	// a leaf's credential (RFC 9420 §5.3.1, §7.3 step 1).
	ValidateCredential func(cred *format.Credential, signatureKey []byte) error
}

// Validate performs the integrity checks of a ratchet tree received by a
// joiner (RFC 9420 §12.4.3.1): the tree hash equals treeHash from the
// GroupContext (skipped if treeHash is nil), every non-blank parent is
// parent-hash valid, unmerged leaves are consistent, and every leaf is a
// valid leaf node for its position (RFC 9420 §7.3).
func (t *Tree) Validate(treeHash []byte, pol *LeafPolicy) error {
	if pol == nil {
		pol = &LeafPolicy{}
	}
	// RFC 9420 §12.4.3.1: the tree hash must match the GroupContext's.
	if treeHash != nil && !bytes.Equal(t.TreeHash(), treeHash) {
		return vErr("§12.4.3.1", t.Root(), ErrTreeHash)
	}
	if err := t.validateParents(); err != nil {
		return err
	}
	return t.validateLeaves(pol)
}

// validateParents checks unmerged leaves (RFC 9420 §7.9.2, §4.1.1) and
// parent hashes (RFC 9420 §7.9.2) of every non-blank parent node.
func (t *Tree) validateParents() error {
	nl := t.NumLeaves()
	for x := NodeIndex(1); uint64(x) < uint64(len(t.nodes)); x += 2 {
		n := t.nodes[x]
		if n == nil {
			continue
		}
		for i, u := range n.Parent.UnmergedLeaves {
			leaf := treemath.NodeOf(LeafIndex(u))
			// RFC 9420 §7.9.2 / §12.4.3.1: an unmerged leaf is a non-blank
			// descendant listed once, and every non-blank node between
			// it and this parent lists it too.
			if u >= nl || !treemath.IsInSubtree(leaf, x) || t.nodes[leaf] == nil ||
				slices.Contains(n.Parent.UnmergedLeaves[:i], u) {
				return vErr("§7.9.2", x, ErrUnmergedLeaves)
			}
			for _, y := range treemath.DirectPath(leaf, nl) {
				if y == x {
					break
				}
				if yn := t.nodes[y]; yn != nil && !slices.Contains(yn.Parent.UnmergedLeaves, u) {
					return vErr("§7.9.2", y, ErrUnmergedLeaves)
				}
			}
		}
		if err := t.suite.CheckHPKEPublicKey(n.Parent.EncryptionKey); err != nil {
			return vErr("§7.1", x, ErrPublicKey)
		}
		// RFC 9420 §7.9.2: each non-blank parent is parent-hash valid.
		if !t.parentHashValid(x) {
			return vErr("§7.9.2", x, ErrParentHash)
		}
	}
	return nil
}

// validateLeaves checks every non-blank leaf per RFC 9420 §7.3, plus the
// uniqueness of signature and encryption keys across the tree.
func (t *Tree) validateLeaves(pol *LeafPolicy) error {
	inUse := t.credentialTypes()
	sigKeys := make(map[string]struct{})
	encKeys := make(map[string]struct{})
	for x := NodeIndex(0); uint64(x) < uint64(len(t.nodes)); x += 2 {
		n := t.nodes[x]
		if n == nil {
			continue
		}
		leaf := n.Leaf
		if err := t.checkLeaf(leaf, x.Leaf(), pol, inUse); err != nil {
			return err
		}
		// RFC 9420 §7.3: signature_key and encryption_key are unique
		// among the members of the group.
		if _, dup := sigKeys[string(leaf.SignatureKey)]; dup {
			return vErr("§7.3", x, ErrDuplicateKey)
		}
		if _, dup := encKeys[string(leaf.EncryptionKey)]; dup {
			return vErr("§7.3", x, ErrDuplicateKey)
		}
		sigKeys[string(leaf.SignatureKey)] = struct{}{}
		encKeys[string(leaf.EncryptionKey)] = struct{}{}
	}
	return nil
}

// credentialTypes returns the credential types in use in the tree.
func (t *Tree) credentialTypes() []format.CredentialType {
	var out []format.CredentialType
	for i := 0; i < len(t.nodes); i += 2 {
		if n := t.nodes[i]; n != nil && !slices.Contains(out, n.Leaf.Credential.Type) {
			out = append(out, n.Leaf.Credential.Type)
		}
	}
	return out
}

// ValidateLeafNode checks a leaf node that is about to be placed at leaf
// index at (RFC 9420 §7.3): the checks of checkLeaf, that its source is
// expected, and that its keys are unique among the other members.
func (t *Tree) ValidateLeafNode(leaf *format.LeafNode, at LeafIndex, expected format.LeafNodeSource, pol *LeafPolicy) error {
	if pol == nil {
		pol = &LeafPolicy{}
	}
	x := treemath.NodeOf(at)
	// RFC 9420 §7.3 step 7: the source matches where the leaf appears.
	if leaf.Source != expected {
		return vErr("§7.3", x, ErrLeafSource)
	}
	var inUse []format.CredentialType
	for i := 0; i < len(t.nodes); i += 2 {
		n := t.nodes[i]
		if n == nil || NodeIndex(i) == x {
			continue
		}
		// RFC 9420 §7.3 step 8: keys are unique among the members.
		if bytes.Equal(n.Leaf.SignatureKey, leaf.SignatureKey) || bytes.Equal(n.Leaf.EncryptionKey, leaf.EncryptionKey) {
			return vErr("§7.3", x, ErrDuplicateKey)
		}
		// RFC 9420 §7.3 step 4: the new leaf's credential type is
		// supported by every other member.
		if !slices.Contains(n.Leaf.Capabilities.Credentials, leaf.Credential.Type) {
			return vErr("§7.3", x, ErrLeafCapabilities)
		}
		if !slices.Contains(inUse, n.Leaf.Credential.Type) {
			inUse = append(inUse, n.Leaf.Credential.Type)
		}
	}
	return t.checkLeaf(leaf, at, pol, inUse)
}

// checkLeaf runs the per-leaf checks of RFC 9420 §7.3 that do not depend on
// where the leaf came from.
func (t *Tree) checkLeaf(leaf *format.LeafNode, at LeafIndex, pol *LeafPolicy, inUse []format.CredentialType) error {
	x := treemath.NodeOf(at)
	// RFC 9420 §7.3 step 1: the credential is valid (Authentication Service).
	if pol.ValidateCredential != nil {
		if err := pol.ValidateCredential(&leaf.Credential, leaf.SignatureKey); err != nil {
			return vErr("§7.3", x, fmt.Errorf("%w: %w", ErrLeafCredential, err))
		}
	}
	// RFC 9420 §7.3 step 2: the signature over LeafNodeTBS verifies.
	tbs := leaf.TBS(pol.GroupID, uint32(at))
	if tbs == nil || t.suite.VerifyWithLabel(leaf.SignatureKey, "LeafNodeTBS", tbs, leaf.Signature) != nil {
		return vErr("§7.3", x, ErrLeafSignature)
	}
	caps := &leaf.Capabilities
	// RFC 9420 §7.3 step 3: the group's required capabilities are listed.
	if r := pol.Required; r != nil {
		for _, e := range r.Extensions {
			if !isDefaultExtension(e) && !slices.Contains(caps.Extensions, e) {
				return vErr("§7.3", x, ErrLeafCapabilities)
			}
		}
		for _, p := range r.Proposals {
			if !isDefaultProposal(p) && !slices.Contains(caps.Proposals, p) {
				return vErr("§7.3", x, ErrLeafCapabilities)
			}
		}
		for _, c := range r.Credentials {
			if !slices.Contains(caps.Credentials, c) {
				return vErr("§7.3", x, ErrLeafCapabilities)
			}
		}
	}
	// RFC 9420 §7.3 step 4: every credential type in use is supported.
	for _, c := range inUse {
		if !slices.Contains(caps.Credentials, c) {
			return vErr("§7.3", x, ErrLeafCapabilities)
		}
	}
	// RFC 9420 §7.3 step 5: a key_package leaf's lifetime covers now.
	if leaf.Source == format.LeafSourceKeyPackage && !pol.Now.IsZero() {
		now := pol.Now.Unix()
		if now < 0 || uint64(now) < leaf.Lifetime.NotBefore || uint64(now) > leaf.Lifetime.NotAfter {
			return vErr("§7.3", x, ErrLeafLifetime)
		}
	}
	// RFC 9420 §7.3 step 6: each extension is listed in the capabilities.
	for _, e := range leaf.Extensions {
		if !isDefaultExtension(e.Type) && !slices.Contains(caps.Extensions, e.Type) {
			return vErr("§7.3", x, ErrLeafExtensions)
		}
	}
	if format.HasDuplicateExtensions(leaf.Extensions) {
		return vErr("§13.4", x, ErrLeafExtensions)
	}
	if err := t.suite.CheckHPKEPublicKey(leaf.EncryptionKey); err != nil {
		return vErr("§7.2", x, ErrPublicKey)
	}
	return nil
}

// isDefaultExtension reports the extension types that are implicitly
// supported and not listed in capabilities (RFC 9420 §7.2).
func isDefaultExtension(e format.ExtensionType) bool { return e >= 1 && e <= 5 }

// isDefaultProposal reports the implicitly supported proposal types (RFC
// 9420 §7.2).
func isDefaultProposal(p format.ProposalType) bool { return p >= 1 && p <= 7 }
