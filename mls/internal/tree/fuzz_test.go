package tree

import (
	"bytes"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

// FuzzRatchetTree decodes a ratchet tree, builds and validates it: no
// input may panic, and an accepted tree re-exports to the same bytes.
func FuzzRatchetTree(f *testing.F) {
	var vecs []struct {
		Tree    hexBytes `json:"tree"`
		GroupID hexBytes `json:"group_id"`
	}
	loadVectors(f, "tree-validation.json", &vecs)
	for i, v := range vecs {
		if i%7 == 0 { // suite 1 vectors come first in each group of 7
			f.Add([]byte(v.Tree), []byte(v.GroupID))
		}
	}
	f.Add([]byte{0}, []byte{})
	f.Add([]byte{1, 0}, []byte{})
	s, err := suite.Get(suite.X25519AES128GCMSHA256Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data, groupID []byte) {
		var rt format.RatchetTree
		if codec.Unmarshal(data, &rt) != nil {
			return
		}
		tr, err := FromRatchetTree(s, rt)
		if err != nil {
			return
		}
		out := tr.RatchetTree()
		if b, err := codec.Marshal(&out); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("accepted tree re-encodes differently (err %v)", err)
		}
		_ = tr.Validate(tr.TreeHash(), &LeafPolicy{GroupID: groupID})
		for x := NodeIndex(0); x < NodeIndex(tr.Width()); x++ {
			tr.Resolution(x)
		}
		for _, l := range tr.Members() {
			tr.FilteredDirectPath(l)
		}
		c := tr.Clone()
		if m := c.Members(); len(m) > 0 {
			_ = c.RemoveLeaf(m[len(m)-1])
		}
		if rt[0] != nil {
			_, _ = c.AddLeaf(rt[0].Leaf)
		}
	})
}
