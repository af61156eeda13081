package tree

import (
	"bytes"
	"slices"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// TreeHash returns the tree hash of the root (RFC 9420 §7.8). Node hashes
// are cached and recomputed only along paths that changed.
func (t *Tree) TreeHash() []byte { return t.NodeHash(t.Root()) }

// NodeHash returns the tree hash of the subtree under x (RFC 9420 §7.8).
func (t *Tree) NodeHash(x NodeIndex) []byte {
	if uint64(x) >= uint64(len(t.nodes)) {
		return nil
	}
	if h := t.hashes[x]; h != nil {
		return h
	}
	var h []byte
	if x.IsLeaf() {
		h = t.leafHash(x, t.nodes[x])
	} else {
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		var p *format.ParentNode
		if n := t.nodes[x]; n != nil {
			p = n.Parent
		}
		h = t.parentHashInputHash(p, t.NodeHash(l), t.NodeHash(r))
	}
	t.hashes[x] = h
	return h
}

// leafHash hashes TreeHashInput for a leaf: node_type, then
// LeafNodeHashInput{leaf_index, optional<LeafNode>} (RFC 9420 §7.8).
func (t *Tree) leafHash(x NodeIndex, n *format.Node) []byte {
	var w codec.Writer
	w.Uint8(uint8(format.NodeTypeLeaf))
	w.Uint32(uint32(x.Leaf()))
	w.Optional(n != nil, func(w *codec.Writer) { n.Leaf.MarshalMLS(w) })
	return t.suite.Hash(resultOrEmpty(&w))
}

// parentHashInputHash hashes TreeHashInput for a parent: node_type, then
// ParentNodeHashInput{optional<ParentNode>, left_hash, right_hash} (RFC
// 9420 §7.8).
func (t *Tree) parentHashInputHash(p *format.ParentNode, left, right []byte) []byte {
	var w codec.Writer
	w.Uint8(uint8(format.NodeTypeParent))
	w.Optional(p != nil, func(w *codec.Writer) { p.MarshalMLS(w) })
	w.VarBytes(left)
	w.VarBytes(right)
	return t.suite.Hash(resultOrEmpty(&w))
}

// resultOrEmpty returns the writer's bytes. Nodes in a Tree were checked to
// encode when they entered it, so an error cannot occur; should it, the
// empty input makes every hash comparison fail rather than panic.
func resultOrEmpty(w *codec.Writer) []byte {
	b, err := w.Result()
	if err != nil {
		return nil
	}
	return b
}

// originalTreeHash returns the tree hash of the subtree under x as it was
// before the leaves in removed were added: those leaves are blank and are
// dropped from the unmerged_leaves of every parent (RFC 9420 §7.9,
// original_sibling_tree_hash).
func (t *Tree) originalTreeHash(x NodeIndex, removed []uint32) []byte {
	affected := false
	for _, l := range removed {
		if treemath.IsInSubtree(treemath.NodeOf(LeafIndex(l)), x) {
			affected = true
			break
		}
	}
	if !affected {
		return t.NodeHash(x)
	}
	if x.IsLeaf() {
		return t.leafHash(x, nil)
	}
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	var p *format.ParentNode
	if n := t.nodes[x]; n != nil {
		kept := make([]uint32, 0, len(n.Parent.UnmergedLeaves))
		for _, u := range n.Parent.UnmergedLeaves {
			if !slices.Contains(removed, u) {
				kept = append(kept, u)
			}
		}
		p = &format.ParentNode{
			EncryptionKey:  n.Parent.EncryptionKey,
			ParentHash:     n.Parent.ParentHash,
			UnmergedLeaves: kept,
		}
	}
	return t.parentHashInputHash(p, t.originalTreeHash(l, removed), t.originalTreeHash(r, removed))
}

// parentHashOf computes the parent hash that the child of parent node p on
// the side opposite sibling must carry: Hash(ParentHashInput{
// encryption_key, parent_hash, original_sibling_tree_hash}) (RFC 9420 §7.9).
func (t *Tree) parentHashOf(p *format.ParentNode, sibling NodeIndex) []byte {
	var w codec.Writer
	w.VarBytes(p.EncryptionKey)
	w.VarBytes(p.ParentHash)
	w.VarBytes(t.originalTreeHash(sibling, p.UnmergedLeaves))
	return t.suite.Hash(resultOrEmpty(&w))
}

// nodeParentHash returns the parent_hash field of a non-blank node: a
// parent's, or a commit-sourced leaf's (nil for other leaves).
func nodeParentHash(n *format.Node) []byte {
	if n.Parent != nil {
		return n.Parent.ParentHash
	}
	if n.Leaf.Source == format.LeafSourceCommit {
		return n.Leaf.ParentHash
	}
	return nil
}

// parentHashValid reports whether the non-blank parent node p is
// parent-hash valid (RFC 9420 §7.9.2): exactly one descendant D, in the
// subtree of a child C with sibling S, satisfies D.parent_hash =
// ParentHash(P, S), D is in the resolution of C, and the intersection of
// P's unmerged_leaves with the subtree under C equals the resolution of C
// with D removed.
func (t *Tree) parentHashValid(x NodeIndex) bool {
	p := t.nodes[x].Parent
	l, _ := treemath.Left(x)
	r, _ := treemath.Right(x)
	found := 0
	for _, pair := range [2][2]NodeIndex{{l, r}, {r, l}} {
		c, s := pair[0], pair[1]
		res := t.Resolution(c)
		var unmergedUnderC []NodeIndex
		for _, u := range p.UnmergedLeaves {
			if un := treemath.NodeOf(LeafIndex(u)); treemath.IsInSubtree(un, c) {
				unmergedUnderC = append(unmergedUnderC, un)
			}
		}
		var want []byte
		for i, d := range res {
			dn := t.nodes[d]
			if dn == nil {
				continue
			}
			ph := nodeParentHash(dn)
			if len(ph) == 0 {
				continue
			}
			if want == nil {
				want = t.parentHashOf(p, s)
			}
			if !bytes.Equal(ph, want) {
				continue
			}
			rest := append(append([]NodeIndex(nil), res[:i]...), res[i+1:]...)
			if sameSet(rest, unmergedUnderC) {
				found++
			}
		}
	}
	return found == 1
}

func sameSet(a, b []NodeIndex) bool {
	if len(a) != len(b) {
		return false
	}
	a = slices.Clone(a)
	b = slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
