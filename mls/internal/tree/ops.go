package tree

import (
	"fmt"
	"slices"

	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// AddLeaf inserts leaf at the leftmost blank leaf, extending the tree to
// twice its size if there is none, and adds the new index to the
// unmerged_leaves of every non-blank parent on its direct path (RFC 9420
// §12.1.1, §7.7). It returns the new leaf's index.
func (t *Tree) AddLeaf(leaf *format.LeafNode) (LeafIndex, error) {
	idx := -1
	for i := 0; i < len(t.nodes); i += 2 {
		if t.nodes[i] == nil {
			idx = i
			break
		}
	}
	if idx < 0 {
		if t.NumLeaves() >= maxLeaves {
			return 0, fmt.Errorf("mls: adding leaf: tree is full")
		}
		idx = len(t.nodes) + 1
		t.extend()
	}
	x := NodeIndex(idx)
	l := x.Leaf()
	t.setNode(x, &format.Node{Leaf: leaf})
	for _, p := range treemath.DirectPath(x, t.NumLeaves()) {
		n := t.nodes[p]
		if n == nil {
			continue
		}
		// Nodes are shared between clones: replace, never modify.
		np := *n.Parent
		np.UnmergedLeaves = append(slices.Clip(np.UnmergedLeaves), uint32(l))
		t.setNode(p, &format.Node{Parent: &np})
	}
	return l, nil
}

// extend doubles the number of leaves; the old tree becomes the left
// subtree of the new root (RFC 9420 §7.7).
func (t *Tree) extend() {
	w := len(t.nodes)
	t.nodes = append(t.nodes, make([]*format.Node, w+1)...)
	t.hashes = append(t.hashes, make([][]byte, w+1)...)
}

// UpdateLeaf replaces leaf l and blanks its direct path (RFC 9420 §12.1.2).
func (t *Tree) UpdateLeaf(l LeafIndex, leaf *format.LeafNode) error {
	x := treemath.NodeOf(l)
	if t.Node(x) == nil {
		return fmt.Errorf("mls: updating leaf %d: leaf is blank or out of range", l)
	}
	t.setNode(x, &format.Node{Leaf: leaf})
	t.blankDirectPath(x)
	return nil
}

// RemoveLeaf blanks leaf l and its direct path, then truncates the tree
// (RFC 9420 §12.1.3).
func (t *Tree) RemoveLeaf(l LeafIndex) error {
	x := treemath.NodeOf(l)
	if t.Node(x) == nil {
		return fmt.Errorf("mls: removing leaf %d: leaf is blank or out of range", l)
	}
	t.setNode(x, nil)
	t.blankDirectPath(x)
	t.truncate()
	return nil
}

func (t *Tree) blankDirectPath(x NodeIndex) {
	for _, p := range treemath.DirectPath(x, t.NumLeaves()) {
		if t.nodes[p] != nil {
			t.setNode(p, nil)
		}
	}
}

// truncate removes right subtrees while the right half of the leaves is
// blank, leaving 2^d leaves for the smallest d with 2^d > L, L the
// rightmost non-blank leaf (RFC 9420 §12.1.3). A tree whose leaves are all
// blank keeps one leaf.
func (t *Tree) truncate() {
	last := -1
	for i := len(t.nodes) - 1; i >= 0; i -= 2 {
		if t.nodes[i] != nil {
			last = i / 2
			break
		}
	}
	nl := uint32(1)
	for last >= 0 && nl <= uint32(last) {
		nl *= 2
	}
	if nl >= t.NumLeaves() {
		return
	}
	w := treemath.Width(nl)
	clear(t.nodes[w:])
	t.nodes = t.nodes[:w]
	t.hashes = t.hashes[:w]
}

// BlankPath blanks the direct path of leaf l, as a committer does before
// generating its UpdatePath (RFC 9420 §7.5).
func (t *Tree) BlankPath(l LeafIndex) { t.blankDirectPath(treemath.NodeOf(l)) }
