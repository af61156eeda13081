package tree

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// ErrPrivateKeyMismatch reports private state that does not match the
// public tree.
var ErrPrivateKeyMismatch = errors.New("mls: private tree state does not match the public tree")

// Private is a member's secret view of the tree: its leaf, its leaf's HPKE
// private key and the path secrets of the parent nodes it knows (RFC 9420
// §7.4). Node private keys are derived from the path secrets on demand
// (node_priv = DeriveKeyPair(DeriveSecret(path_secret, "node"))).
type Private struct {
	Leaf          LeafIndex
	EncryptionKey []byte               // the leaf's HPKE private key
	PathSecrets   map[NodeIndex][]byte // path secret per parent node
}

// NewPrivate returns the private state of a member at leaf with the given
// leaf HPKE private key and no path secrets (a joiner before Welcome's
// path secret is applied).
func NewPrivate(leaf LeafIndex, encryptionKey []byte) *Private {
	return &Private{Leaf: leaf, EncryptionKey: encryptionKey, PathSecrets: map[NodeIndex][]byte{}}
}

// Clone returns a copy that shares no maps with p.
func (p *Private) Clone() *Private {
	return &Private{Leaf: p.Leaf, EncryptionKey: p.EncryptionKey, PathSecrets: maps.Clone(p.PathSecrets)}
}

// MarshalMLS implements codec.Marshaler:
// struct { uint32 leaf; opaque encryption_priv<V>;
// struct { uint32 node; opaque path_secret<V>; } path_secrets<V>; }
// with path secrets in increasing node order.
func (p *Private) MarshalMLS(w *codec.Writer) {
	w.Uint32(uint32(p.Leaf))
	w.VarBytes(p.EncryptionKey)
	keys := slices.Sorted(maps.Keys(p.PathSecrets))
	w.Vector(func(w *codec.Writer) {
		for _, x := range keys {
			w.Uint32(uint32(x))
			w.VarBytes(p.PathSecrets[x])
		}
	})
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *Private) UnmarshalMLS(r *codec.Reader) {
	p.Leaf = LeafIndex(r.Uint32())
	p.EncryptionKey = r.VarBytes()
	p.PathSecrets = map[NodeIndex][]byte{}
	r.ReadVector(func(r *codec.Reader) {
		x := NodeIndex(r.Uint32())
		secret := r.VarBytes()
		if r.Err() != nil {
			return
		}
		if _, dup := p.PathSecrets[x]; dup || x.IsLeaf() {
			r.SetErr(errors.New("mls: decoding tree private state: bad or duplicate node"))
			return
		}
		p.PathSecrets[x] = secret
	})
}

// nodeKeyPair derives a node's HPKE key pair from its path secret (RFC 9420
// §7.4).
func nodeKeyPair(s *suite.Suite, pathSecret []byte) (priv, pub []byte, err error) {
	return s.DeriveKeyPair(s.DeriveSecret(pathSecret, "node"))
}

// privateKey returns the HPKE private key we hold for node x, if any.
func (p *Private) privateKey(s *suite.Suite, x NodeIndex) ([]byte, bool, error) {
	if x == treemath.NodeOf(p.Leaf) {
		return p.EncryptionKey, true, nil
	}
	secret, ok := p.PathSecrets[x]
	if !ok {
		return nil, false, nil
	}
	priv, _, err := nodeKeyPair(s, secret)
	return priv, err == nil, err
}

// Implant sets the path secret of node x and derives the path secrets of
// the nodes above it on this member's filtered direct path (RFC 9420 §7.4,
// and §12.4.3.1 for the path_secret a joiner receives in a Welcome). x
// must be on that path.
func (p *Private) Implant(t *Tree, x NodeIndex, pathSecret []byte) error {
	path, _ := t.FilteredDirectPath(p.Leaf)
	i := slices.Index(path, x)
	if i < 0 {
		return fmt.Errorf("mls: implanting path secret: node %d is not on the filtered direct path of leaf %d", x, p.Leaf)
	}
	secret := pathSecret
	for j := i; j < len(path); j++ {
		if j > i {
			secret = t.suite.DeriveSecret(secret, "path")
		}
		p.PathSecrets[path[j]] = secret
	}
	return nil
}

// CommitSecret returns DeriveSecret(path_secret[root], "path"), the
// commit_secret of the path this state holds for the root (RFC 9420 §7.4).
func (p *Private) CommitSecret(t *Tree) ([]byte, bool) {
	secret, ok := p.PathSecrets[t.Root()]
	if !ok {
		return nil, false
	}
	return t.suite.DeriveSecret(secret, "path"), true
}

// PathSecretFor returns the node and path secret a committer hands to the
// new member at joiner in its Welcome: the secret of the lowest node of
// the committer's path that is an ancestor of joiner (RFC 9420 §12.4.3.1).
func (p *Private) PathSecretFor(joiner LeafIndex) (NodeIndex, []byte, bool) {
	x := treemath.CommonAncestor(treemath.NodeOf(p.Leaf), treemath.NodeOf(joiner))
	secret, ok := p.PathSecrets[x]
	return x, secret, ok
}

// Check verifies that every private key held matches the public key of
// its node in t, and that no path secret is held for a blank node or a
// node off our direct path.
func (p *Private) Check(t *Tree) error {
	leaf := t.Leaf(p.Leaf)
	if leaf == nil {
		return fmt.Errorf("%w: leaf %d is blank", ErrPrivateKeyMismatch, p.Leaf)
	}
	pub, err := t.suite.HPKEPublicKey(p.EncryptionKey)
	if err != nil || !bytes.Equal(pub, leaf.EncryptionKey) {
		return fmt.Errorf("%w: leaf %d", ErrPrivateKeyMismatch, p.Leaf)
	}
	for x, secret := range p.PathSecrets {
		node := t.ParentNode(x)
		if node == nil || !treemath.IsInSubtree(treemath.NodeOf(p.Leaf), x) {
			return fmt.Errorf("%w: node %d", ErrPrivateKeyMismatch, x)
		}
		_, pub, err := nodeKeyPair(t.suite, secret)
		if err != nil || !bytes.Equal(pub, node.EncryptionKey) {
			return fmt.Errorf("%w: node %d", ErrPrivateKeyMismatch, x)
		}
	}
	return nil
}

// Prune drops path secrets of nodes that are blank or outside the tree,
// as after Update and Remove proposals blank direct paths (RFC 9420
// §12.1.2, §12.1.3).
func (p *Private) Prune(t *Tree) {
	for x := range p.PathSecrets {
		if t.ParentNode(x) == nil {
			delete(p.PathSecrets, x)
		}
	}
}
