package tree

import (
	"bytes"
	"slices"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

// hexBytes decodes a hex JSON string.
type hexBytes = vectors.Hex

func loadVectors(t testing.TB, name string, v any) { vectors.Load(t, name, v) }

func parseTree(t testing.TB, s *suite.Suite, b []byte) *Tree {
	t.Helper()
	var rt format.RatchetTree
	if err := codec.Unmarshal(b, &rt); err != nil {
		t.Fatalf("decoding ratchet tree: %v", err)
	}
	tr, err := FromRatchetTree(s, rt)
	if err != nil {
		t.Fatalf("building tree: %v", err)
	}
	return tr
}

func mustSuite(t testing.TB, id uint16) *suite.Suite {
	t.Helper()
	s, err := suite.Get(suite.ID(id))
	if err != nil {
		t.Fatalf("cipher suite %d: %v", id, err)
	}
	return s
}

func TestTreeValidationVectors(t *testing.T) {
	type vector struct {
		CipherSuite uint16     `json:"cipher_suite"`
		Tree        hexBytes   `json:"tree"`
		GroupID     hexBytes   `json:"group_id"`
		TreeHashes  []hexBytes `json:"tree_hashes"`
		Resolutions [][]uint32 `json:"resolutions"`
	}
	vectors.Each(t, "tree-validation.json", func(t *testing.T, v vector) {
		s := mustSuite(t, v.CipherSuite)
		tr := parseTree(t, s, v.Tree)
		if int(tr.Width()) != len(v.TreeHashes) || len(v.Resolutions) != len(v.TreeHashes) {
			t.Fatalf("width %d, vector has %d hashes and %d resolutions", tr.Width(), len(v.TreeHashes), len(v.Resolutions))
		}
		for x := range v.TreeHashes {
			res := tr.Resolution(NodeIndex(x))
			got := make([]uint32, len(res))
			for k, r := range res {
				got[k] = uint32(r)
			}
			if !slices.Equal(got, v.Resolutions[x]) {
				t.Errorf("resolution of node %d: got %v, want %v", x, got, v.Resolutions[x])
			}
			if h := tr.NodeHash(NodeIndex(x)); !bytes.Equal(h, v.TreeHashes[x]) {
				t.Errorf("tree hash of node %d: got %x, want %x", x, h, v.TreeHashes[x])
			}
		}
		root := v.TreeHashes[tr.Root()]
		if err := tr.Validate(root, &LeafPolicy{GroupID: v.GroupID}); err != nil {
			t.Errorf("validate: %v", err)
		}
		// The export re-encodes to the input bytes.
		rt := tr.RatchetTree()
		if b, err := codec.Marshal(&rt); err != nil || !bytes.Equal(b, v.Tree) {
			t.Errorf("re-encoding the tree: %v", err)
		}
		// A wrong group id breaks the signatures of update/commit
		// leaves; a wrong tree hash is rejected.
		if err := tr.Validate(append(slices.Clone(root), 0), &LeafPolicy{GroupID: v.GroupID}); err == nil {
			t.Errorf("validate accepted a wrong tree hash")
		}
	})
}

func TestTreeOperationsVectors(t *testing.T) {
	type vector struct {
		CipherSuite    uint16   `json:"cipher_suite"`
		TreeBefore     hexBytes `json:"tree_before"`
		Proposal       hexBytes `json:"proposal"`
		ProposalSender uint32   `json:"proposal_sender"`
		TreeHashBefore hexBytes `json:"tree_hash_before"`
		TreeAfter      hexBytes `json:"tree_after"`
		TreeHashAfter  hexBytes `json:"tree_hash_after"`
	}
	vectors.Each(t, "tree-operations.json", func(t *testing.T, v vector) {
		s := mustSuite(t, v.CipherSuite)
		tr := parseTree(t, s, v.TreeBefore)
		if h := tr.TreeHash(); !bytes.Equal(h, v.TreeHashBefore) {
			t.Fatalf("tree hash before: got %x, want %x", h, v.TreeHashBefore)
		}
		var p format.Proposal
		if err := codec.Unmarshal(v.Proposal, &p); err != nil {
			t.Fatalf("decoding proposal: %v", err)
		}
		var err error
		switch p.Type {
		case format.ProposalAdd:
			_, err = tr.AddLeaf(&p.Add.KeyPackage.LeafNode)
		case format.ProposalUpdate:
			err = tr.UpdateLeaf(LeafIndex(v.ProposalSender), &p.Update.LeafNode)
		case format.ProposalRemove:
			err = tr.RemoveLeaf(LeafIndex(p.Remove.Removed))
		default:
			t.Fatalf("unexpected proposal type %d", p.Type)
		}
		if err != nil {
			t.Fatalf("applying proposal: %v", err)
		}
		rt := tr.RatchetTree()
		if b, err := codec.Marshal(&rt); err != nil || !bytes.Equal(b, v.TreeAfter) {
			t.Errorf("tree after differs (err %v)", err)
		}
		if h := tr.TreeHash(); !bytes.Equal(h, v.TreeHashAfter) {
			t.Errorf("tree hash after: got %x, want %x", h, v.TreeHashAfter)
		}
		// The cache must agree with a fresh computation.
		fresh := parseTree(t, s, v.TreeAfter)
		if !bytes.Equal(fresh.TreeHash(), tr.TreeHash()) {
			t.Errorf("cached tree hash differs from a fresh computation")
		}
	})
}
