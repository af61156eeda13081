// Package treemath computes the array layout of the MLS ratchet tree
// (RFC 9420 §4.2 and Appendix C): a complete binary tree whose leaves sit at
// even node indices and whose number of leaves is a power of two.
//
// Functions take node indices (NodeIndex) or leaf indices (LeafIndex) and the
// number of leaves of the tree. They never allocate except where they return
// a path.
package treemath

import "math/bits"

// NodeIndex is a position in the array representation of the tree.
type NodeIndex uint32

// LeafIndex numbers the leaves from the left, starting at zero.
type LeafIndex uint32

// NodeOf returns the node index of leaf l.
func NodeOf(l LeafIndex) NodeIndex { return NodeIndex(2 * l) }

// IsLeaf reports whether x is a leaf node.
func (x NodeIndex) IsLeaf() bool { return x%2 == 0 }

// Leaf returns the leaf index of a leaf node x.
func (x NodeIndex) Leaf() LeafIndex { return LeafIndex(x / 2) }

// Level returns the height of x above the leaves: the number of trailing one
// bits of its index (RFC 9420 Appendix C, level).
func Level(x NodeIndex) uint { return uint(bits.TrailingZeros32(^uint32(x))) }

// Width returns the number of nodes of a tree with n leaves.
func Width(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// Root returns the root of a tree with n leaves (n a power of two, n >= 1).
func Root(n uint32) NodeIndex {
	w := Width(n)
	return NodeIndex((uint32(1) << (bits.Len32(w) - 1)) - 1)
}

// Left returns the left child of an intermediate node x; ok is false for a
// leaf.
func Left(x NodeIndex) (NodeIndex, bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ (1 << (k - 1)), true
}

// Right returns the right child of an intermediate node x; ok is false for a
// leaf.
func Right(x NodeIndex) (NodeIndex, bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ (3 << (k - 1)), true
}

// parentStep returns the parent of x in the infinite tree.
func parentStep(x NodeIndex) NodeIndex {
	k := Level(x)
	b := (uint32(x) >> (k + 1)) & 1
	return NodeIndex((uint32(x) | (1 << k)) ^ (b << (k + 1)))
}

// Parent returns the parent of x in a tree with n leaves; ok is false for the
// root.
func Parent(x NodeIndex, n uint32) (NodeIndex, bool) {
	if x == Root(n) {
		return 0, false
	}
	return parentStep(x), true
}

// Sibling returns the other child of x's parent; ok is false for the root.
func Sibling(x NodeIndex, n uint32) (NodeIndex, bool) {
	p, ok := Parent(x, n)
	if !ok {
		return 0, false
	}
	l, _ := Left(p)
	if x < p {
		r, _ := Right(p)
		return r, true
	}
	return l, true
}

// DirectPath returns the parents of x from its own parent up to the root
// (RFC 9420 §4.1.2). It is empty for the root.
func DirectPath(x NodeIndex, n uint32) []NodeIndex {
	var path []NodeIndex
	for {
		p, ok := Parent(x, n)
		if !ok {
			return path
		}
		path = append(path, p)
		x = p
	}
}

// Copath returns the siblings of x and of each node of its direct path
// except the root (RFC 9420 §4.1.2).
func Copath(x NodeIndex, n uint32) []NodeIndex {
	if x == Root(n) {
		return nil
	}
	nodes := append([]NodeIndex{x}, DirectPath(x, n)...)
	nodes = nodes[:len(nodes)-1]
	out := make([]NodeIndex, len(nodes))
	for i, y := range nodes {
		out[i], _ = Sibling(y, n)
	}
	return out
}

// CommonAncestor returns the lowest node that is an ancestor of both x and y
// (a node counts as its own ancestor).
func CommonAncestor(x, y NodeIndex) NodeIndex {
	lx, ly := Level(x)+1, Level(y)+1
	if lx <= ly && uint32(x)>>ly == uint32(y)>>ly {
		return y
	}
	if ly <= lx && uint32(x)>>lx == uint32(y)>>lx {
		return x
	}
	xn, yn := uint32(x), uint32(y)
	k := uint(0)
	for xn != yn {
		xn >>= 1
		yn >>= 1
		k++
	}
	return NodeIndex((xn << k) + (1 << (k - 1)) - 1)
}

// IsInSubtree reports whether x lies in the subtree rooted at r.
func IsInSubtree(x, r NodeIndex) bool {
	k := Level(r)
	lo := uint32(r) - (uint32(1)<<k - 1)
	hi := uint32(r) + (uint32(1)<<k - 1)
	return uint32(x) >= lo && uint32(x) <= hi
}
