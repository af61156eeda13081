// Package tree owns the MLS ratchet tree (RFC 9420 §4, §7, §12.1): the
// public tree with its cached tree hashes, parent hashes, the joiner's
// integrity checks, the membership operations of Add, Update and Remove,
// and TreeKEM (creating and processing UpdatePaths) together with the
// private keys a member holds for its own path.
//
// Nodes stored in a Tree are shared, never modified in place: every change
// replaces the node, so Clone is a cheap copy of the node array and the
// nodes returned by accessors must not be modified by callers.
package tree

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// Short aliases of the tree math index types.
type (
	// NodeIndex is a position in the array form of the tree.
	NodeIndex = treemath.NodeIndex
	// LeafIndex numbers the leaves from the left.
	LeafIndex = treemath.LeafIndex
)

// maxLeaves bounds the tree size so that node indices fit in uint32.
const maxLeaves = 1 << 30

// Tree is a public ratchet tree over a power-of-two number of leaves.
// It is not safe for concurrent modification.
type Tree struct {
	suite  *suite.Suite
	nodes  []*format.Node // Width(nLeaves) entries; nil is a blank node
	hashes [][]byte       // cached tree hash of each node; nil = not computed
}

// New returns a tree holding a single leaf (a group's creator, RFC 9420
// §11).
func New(s *suite.Suite, leaf *format.LeafNode) *Tree {
	return &Tree{
		suite:  s,
		nodes:  []*format.Node{{Leaf: leaf}},
		hashes: make([][]byte, 1),
	}
}

// FromRatchetTree builds a tree from the ratchet_tree extension's node list
// (RFC 9420 §12.4.3.3). It checks the shape only: node types at the right
// positions and no trailing blank node. Use Validate for the integrity
// checks a joiner must perform.
func FromRatchetTree(s *suite.Suite, rt format.RatchetTree) (*Tree, error) {
	n := len(rt)
	if n == 0 {
		return nil, shapeErr("empty ratchet tree")
	}
	// RFC 9420 §12.4.3.3: the list ends at the rightmost non-blank node,
	// which is a leaf, so the list has an odd length.
	if rt[n-1] == nil {
		return nil, shapeErr("trailing blank node")
	}
	if n%2 == 0 {
		return nil, shapeErr("even number of nodes")
	}
	leaves := uint64(n+1) / 2
	if leaves > maxLeaves {
		return nil, shapeErr("too many leaves")
	}
	width := treemath.Width(uint32(1) << bits.Len64(leaves-1))
	t := &Tree{
		suite:  s,
		nodes:  make([]*format.Node, width),
		hashes: make([][]byte, width),
	}
	for i, node := range rt {
		if node == nil {
			continue
		}
		isLeaf := NodeIndex(i).IsLeaf()
		// RFC 9420 §12.4.3.3: leaves sit at even indices, parents at odd.
		if (node.Leaf != nil) == (node.Parent != nil) || isLeaf != (node.Leaf != nil) {
			return nil, shapeErr(fmt.Sprintf("node %d has the wrong type", i))
		}
		if _, err := codec.Marshal(node); err != nil {
			return nil, fmt.Errorf("mls: building ratchet tree: node %d: %w", i, err)
		}
		t.nodes[i] = node
	}
	return t, nil
}

// ErrTreeShape reports a ratchet tree whose array form is malformed.
var ErrTreeShape = errors.New("malformed ratchet tree")

func shapeErr(why string) error {
	return fmt.Errorf("mls: building ratchet tree: %w: %s (RFC 9420 §12.4.3.3)", ErrTreeShape, why)
}

// RatchetTree exports the tree in the ratchet_tree extension form, with
// trailing blank nodes removed (RFC 9420 §12.4.3.3). The nodes are shared.
func (t *Tree) RatchetTree() format.RatchetTree {
	end := len(t.nodes)
	for end > 0 && t.nodes[end-1] == nil {
		end--
	}
	out := make(format.RatchetTree, end)
	copy(out, t.nodes[:end])
	return out
}

// Suite returns the tree's cipher suite.
func (t *Tree) Suite() *suite.Suite { return t.suite }

// Clone returns an independent copy of the tree (nodes are shared, which is
// safe because they are never modified in place).
func (t *Tree) Clone() *Tree {
	c := &Tree{
		suite:  t.suite,
		nodes:  make([]*format.Node, len(t.nodes)),
		hashes: make([][]byte, len(t.hashes)),
	}
	copy(c.nodes, t.nodes)
	copy(c.hashes, t.hashes)
	return c
}

// NumLeaves returns the number of leaves (a power of two).
func (t *Tree) NumLeaves() uint32 { return uint32(len(t.nodes)+1) / 2 }

// Width returns the number of nodes.
func (t *Tree) Width() uint32 { return uint32(len(t.nodes)) }

// Root returns the root node index.
func (t *Tree) Root() NodeIndex { return treemath.Root(t.NumLeaves()) }

// Node returns node x, or nil if it is blank or out of range.
func (t *Tree) Node(x NodeIndex) *format.Node {
	if uint64(x) >= uint64(len(t.nodes)) {
		return nil
	}
	return t.nodes[x]
}

// Leaf returns the leaf node at l, or nil if it is blank or out of range.
func (t *Tree) Leaf(l LeafIndex) *format.LeafNode {
	if n := t.Node(treemath.NodeOf(l)); n != nil {
		return n.Leaf
	}
	return nil
}

// ParentNode returns the parent node x, or nil if it is blank, a leaf or
// out of range.
func (t *Tree) ParentNode(x NodeIndex) *format.ParentNode {
	if n := t.Node(x); n != nil {
		return n.Parent
	}
	return nil
}

// encryptionKey returns the HPKE public key of a non-blank node.
func (t *Tree) encryptionKey(x NodeIndex) []byte {
	n := t.Node(x)
	switch {
	case n == nil:
		return nil
	case n.Leaf != nil:
		return n.Leaf.EncryptionKey
	default:
		return n.Parent.EncryptionKey
	}
}

// Members returns the indices of the non-blank leaves in order.
func (t *Tree) Members() []LeafIndex {
	var out []LeafIndex
	for i := 0; i < len(t.nodes); i += 2 {
		if t.nodes[i] != nil {
			out = append(out, LeafIndex(i/2))
		}
	}
	return out
}

// FindSignatureKey returns the leaf whose signature key is key.
func (t *Tree) FindSignatureKey(key []byte) (LeafIndex, bool) {
	for i := 0; i < len(t.nodes); i += 2 {
		if n := t.nodes[i]; n != nil && bytes.Equal(n.Leaf.SignatureKey, key) {
			return LeafIndex(i / 2), true
		}
	}
	return 0, false
}

// FindEncryptionKey returns the leaf whose encryption key is key.
func (t *Tree) FindEncryptionKey(key []byte) (LeafIndex, bool) {
	for i := 0; i < len(t.nodes); i += 2 {
		if n := t.nodes[i]; n != nil && bytes.Equal(n.Leaf.EncryptionKey, key) {
			return LeafIndex(i / 2), true
		}
	}
	return 0, false
}

// setNode replaces node x and invalidates the cached hashes of x and its
// ancestors.
func (t *Tree) setNode(x NodeIndex, n *format.Node) {
	t.nodes[x] = n
	t.invalidate(x)
}

func (t *Tree) invalidate(x NodeIndex) {
	nl := t.NumLeaves()
	for {
		t.hashes[x] = nil
		p, ok := treemath.Parent(x, nl)
		if !ok {
			return
		}
		x = p
	}
}

// Resolution returns the resolution of node x (RFC 9420 §4.1.1): the node
// itself followed by its unmerged leaves if it is not blank, nothing for a
// blank leaf, and the resolutions of the children of a blank parent.
func (t *Tree) Resolution(x NodeIndex) []NodeIndex {
	return t.appendResolution(nil, x)
}

func (t *Tree) appendResolution(out []NodeIndex, x NodeIndex) []NodeIndex {
	n := t.Node(x)
	if n != nil {
		out = append(out, x)
		if n.Parent != nil {
			for _, l := range n.Parent.UnmergedLeaves {
				out = append(out, treemath.NodeOf(LeafIndex(l)))
			}
		}
		return out
	}
	if x.IsLeaf() {
		return out
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	return t.appendResolution(t.appendResolution(out, l), r)
}

// resolutionEmpty reports whether the subtree under x is entirely blank,
// which is when its resolution is empty (RFC 9420 §4.1.1).
func (t *Tree) resolutionEmpty(x NodeIndex) bool {
	if t.Node(x) != nil {
		return false
	}
	if x.IsLeaf() {
		return true
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	return t.resolutionEmpty(l) && t.resolutionEmpty(r)
}

// FilteredDirectPath returns the filtered direct path of leaf l and, for
// each of its nodes, the copath child: the child not on l's side (RFC 9420
// §4.1.2). Nodes whose copath child has an empty resolution are removed.
func (t *Tree) FilteredDirectPath(l LeafIndex) (path, copath []NodeIndex) {
	nl := t.NumLeaves()
	x := treemath.NodeOf(l)
	for _, p := range treemath.DirectPath(x, nl) {
		sib, _ := treemath.Sibling(x, nl)
		if !t.resolutionEmpty(sib) {
			path = append(path, p)
			copath = append(copath, sib)
		}
		x = p
	}
	return path, copath
}
