package treemath

import (
	"fmt"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

type treeMathVector struct {
	NLeaves uint32    `json:"n_leaves"`
	NNodes  uint32    `json:"n_nodes"`
	Root    uint32    `json:"root"`
	Left    []*uint32 `json:"left"`
	Right   []*uint32 `json:"right"`
	Parent  []*uint32 `json:"parent"`
	Sibling []*uint32 `json:"sibling"`
}

func TestVectors(t *testing.T) {
	vectors.Each(t, "tree-math.json", func(t *testing.T, v treeMathVector) {
		n := v.NLeaves
		if got := Width(n); got != v.NNodes {
			t.Fatalf("Width(%d) = %d, want %d", n, got, v.NNodes)
		}
		if got := Root(n); uint32(got) != v.Root {
			t.Fatalf("Root(%d) = %d, want %d", n, got, v.Root)
		}
		check := func(name string, want []*uint32, f func(NodeIndex) (NodeIndex, bool)) {
			if len(want) != int(v.NNodes) {
				t.Fatalf("%s: %d entries for %d nodes", name, len(want), v.NNodes)
			}
			for x := range v.NNodes {
				got, ok := f(NodeIndex(x))
				switch {
				case want[x] == nil && ok:
					t.Fatalf("%s(%d) = %d, want none", name, x, got)
				case want[x] != nil && !ok:
					t.Fatalf("%s(%d) = none, want %d", name, x, *want[x])
				case want[x] != nil && uint32(got) != *want[x]:
					t.Fatalf("%s(%d) = %d, want %d", name, x, got, *want[x])
				}
			}
		}
		check("left", v.Left, Left)
		check("right", v.Right, Right)
		check("parent", v.Parent, func(x NodeIndex) (NodeIndex, bool) { return Parent(x, n) })
		check("sibling", v.Sibling, func(x NodeIndex) (NodeIndex, bool) { return Sibling(x, n) })
	})
}

func TestPathsAndAncestors(t *testing.T) {
	const n = 8
	tests := []struct {
		x      NodeIndex
		direct []NodeIndex
		copath []NodeIndex
	}{
		{0, []NodeIndex{1, 3, 7}, []NodeIndex{2, 5, 11}},
		{6, []NodeIndex{5, 3, 7}, []NodeIndex{4, 1, 11}},
		{14, []NodeIndex{13, 11, 7}, []NodeIndex{12, 9, 3}},
		{7, nil, nil},
	}
	for _, tt := range tests {
		if got := DirectPath(tt.x, n); fmt.Sprint(got) != fmt.Sprint(tt.direct) {
			t.Errorf("DirectPath(%d) = %v, want %v", tt.x, got, tt.direct)
		}
		if got := Copath(tt.x, n); fmt.Sprint(got) != fmt.Sprint(tt.copath) {
			t.Errorf("Copath(%d) = %v, want %v", tt.x, got, tt.copath)
		}
	}
	anc := []struct{ x, y, want NodeIndex }{
		{0, 2, 1}, {0, 6, 3}, {0, 14, 7}, {4, 6, 5}, {2, 2, 2}, {1, 2, 1}, {8, 3, 7}, {10, 12, 11},
	}
	for _, a := range anc {
		if got := CommonAncestor(a.x, a.y); got != a.want {
			t.Errorf("CommonAncestor(%d,%d) = %d, want %d", a.x, a.y, got, a.want)
		}
	}
	if !IsInSubtree(4, 5) || IsInSubtree(2, 5) || !IsInSubtree(14, 7) {
		t.Error("IsInSubtree wrong")
	}
}
