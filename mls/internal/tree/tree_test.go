package tree

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
)

func TestAddExtendsAndRemoveTruncates(t *testing.T) {
	g := buildBenchGroup(t, 2)
	tr := g.tree.Clone()
	if tr.NumLeaves() != 2 {
		t.Fatalf("start with %d leaves", tr.NumLeaves())
	}
	leaf := *tr.Leaf(1)
	l, err := tr.AddLeaf(&leaf)
	if err != nil || l != 2 || tr.NumLeaves() != 4 {
		t.Fatalf("add: leaf %d, %d leaves, %v", l, tr.NumLeaves(), err)
	}
	// The root (node 3) is blank in a freshly extended tree; node 1 is
	// not an ancestor of leaf 2, so no unmerged leaves are recorded.
	if p := tr.ParentNode(1); p == nil || len(p.UnmergedLeaves) != 0 {
		t.Fatalf("node 1 changed: %+v", p)
	}
	// The original tree is untouched by the clone's changes.
	if g.tree.NumLeaves() != 2 {
		t.Fatalf("clone shares structure")
	}
	if err := tr.RemoveLeaf(2); err != nil || tr.NumLeaves() != 2 {
		t.Fatalf("remove: %d leaves, %v", tr.NumLeaves(), err)
	}
	if !bytes.Equal(tr.TreeHash(), g.tree.TreeHash()) {
		t.Fatalf("add then remove changed the tree hash")
	}
}

func TestAddRecordsUnmergedLeaves(t *testing.T) {
	g := buildBenchGroup(t, 100)
	tr := g.tree.Clone()
	if err := tr.RemoveLeaf(5); err != nil {
		t.Fatal(err)
	}
	// Put the removed leaf's (now blank) direct path back, as if another
	// member had committed since.
	path := []NodeIndex{9, 11, 7, 15, 31, 63, 127}
	for _, x := range path {
		if tr.Node(x) != nil {
			t.Fatalf("node %d not blanked by remove", x)
		}
		tr.setNode(x, g.tree.Node(x))
	}
	leaf := *tr.Leaf(6)
	leaf.EncryptionKey = tr.Leaf(0).EncryptionKey
	l, err := tr.AddLeaf(&leaf)
	if err != nil || l != 5 {
		t.Fatalf("add went to leaf %d: %v", l, err)
	}
	for _, x := range path {
		p := tr.ParentNode(x)
		if p == nil || !slices.Equal(p.UnmergedLeaves, []uint32{5}) {
			t.Errorf("node %d: unmerged %v", x, p)
		}
		if g.tree.ParentNode(x) == nil || len(g.tree.ParentNode(x).UnmergedLeaves) != 0 {
			t.Errorf("node %d modified in the original tree", x)
		}
	}
	if res := tr.Resolution(9); !slices.Equal(res, []NodeIndex{9, 10}) {
		t.Errorf("resolution of 9: %v", res)
	}
	// The cached hash equals a fresh computation.
	rt := tr.RatchetTree()
	fresh, err := FromRatchetTree(tr.Suite(), rt)
	if err != nil || !bytes.Equal(fresh.TreeHash(), tr.TreeHash()) {
		t.Fatalf("cached hash differs from a fresh one (%v)", err)
	}
}

func TestValidateRejects(t *testing.T) {
	var vecs []struct {
		CipherSuite uint16   `json:"cipher_suite"`
		Tree        hexBytes `json:"tree"`
		GroupID     hexBytes `json:"group_id"`
	}
	loadVectors(t, "tree-validation.json", &vecs)
	v := vecs[3] // suite 1, 32 leaves with blanks and parents
	s := mustSuite(t, v.CipherSuite)
	tr := parseTree(t, s, v.Tree)
	pol := &LeafPolicy{GroupID: v.GroupID}
	if err := tr.Validate(nil, pol); err != nil {
		t.Fatalf("valid tree rejected: %v", err)
	}
	check := func(name string, c *Tree, want error) {
		t.Helper()
		err := c.Validate(nil, pol)
		var ve *ValidationError
		if !errors.Is(err, want) || !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	// A wrong group id breaks every update/commit leaf signature.
	if err := tr.Validate(nil, &LeafPolicy{GroupID: []byte("other")}); !errors.Is(err, ErrLeafSignature) {
		t.Errorf("wrong group id: %v", err)
	}
	members := tr.Members()
	// A changed parent key breaks the parent hash chain.
	for x := NodeIndex(1); x < NodeIndex(tr.Width()); x += 2 {
		if p := tr.ParentNode(x); p != nil {
			c := tr.Clone()
			np := *p
			np.EncryptionKey = tr.Leaf(members[0]).EncryptionKey
			c.setNode(x, &format.Node{Parent: &np})
			check("changed parent key", c, ErrParentHash)
			np.EncryptionKey = p.EncryptionKey
			np.UnmergedLeaves = []uint32{uint32(members[len(members)-1]) + 1000}
			c.setNode(x, &format.Node{Parent: &np})
			check("unmerged leaf out of subtree", c, ErrUnmergedLeaves)
			break
		}
	}
	// Two leaves sharing a signature key.
	c := tr.Clone()
	dup := *c.Leaf(members[1])
	dup.SignatureKey = c.Leaf(members[0]).SignatureKey
	c.setNode(2*NodeIndex(members[1]), &format.Node{Leaf: &dup})
	if err := c.Validate(nil, pol); err == nil {
		t.Errorf("duplicate signature key accepted")
	}
	// An expired key_package leaf is rejected when a clock is given.
	for _, l := range members {
		if tr.Leaf(l).Source == format.LeafSourceKeyPackage {
			late := &LeafPolicy{GroupID: v.GroupID, Now: time.Unix(int64(tr.Leaf(l).Lifetime.NotAfter)+1, 0)}
			if err := tr.Validate(nil, late); !errors.Is(err, ErrLeafLifetime) {
				t.Errorf("expired leaf: %v", err)
			}
			break
		}
	}
}

func TestFromRatchetTreeRejectsBadShapes(t *testing.T) {
	g := buildBenchGroup(t, 2)
	s := g.tree.Suite()
	leaf := g.tree.Node(0)
	parent := g.tree.Node(1)
	for name, rt := range map[string]format.RatchetTree{
		"empty":          {},
		"trailing blank": {leaf, nil, nil},
		"even length":    {leaf, parent},
		"parent at leaf": {parent},
		"leaf at parent": {leaf, leaf, leaf},
	} {
		if _, err := FromRatchetTree(s, rt); !errors.Is(err, ErrTreeShape) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPrivateRoundTripAndWelcomeSecret(t *testing.T) {
	g := buildBenchGroup(t, 100)
	committer := g.tree.Clone()
	res, err := committer.CreateUpdatePath(&CommitParams{Sender: 0, SignatureKey: g.firstSig, Context: g.ctx, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	b := codec.MustMarshal(res.Private)
	var back Private
	if err := codec.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(codec.MustMarshal(&back), b) || back.Check(committer) != nil {
		t.Fatalf("private state does not round-trip")
	}
	// A joiner at leaf 99 holding only its leaf key implants the Welcome
	// path secret and reaches the committer's commit secret.
	x, secret, ok := res.Private.PathSecretFor(99)
	if !ok {
		t.Fatal("no path secret for leaf 99")
	}
	joiner := NewPrivate(99, g.last.EncryptionKey)
	if err := joiner.Implant(committer, x, secret); err != nil {
		t.Fatal(err)
	}
	cs, ok := joiner.CommitSecret(committer)
	if !ok || !bytes.Equal(cs, res.CommitSecret) || joiner.Check(committer) != nil {
		t.Fatalf("joiner's commit secret differs")
	}
	// A receiver with wrong keys, or an excluded one, fails cleanly.
	recv := g.tree.Clone()
	if _, _, _, err := recv.ProcessUpdatePath(g.last, 0, res.Path, g.ctx, []LeafIndex{99}, nil); !errors.Is(err, ErrNoKey) {
		t.Errorf("excluded receiver: %v", err)
	}
	// A tampered leaf signature is rejected.
	bad := *res.Path
	bad.LeafNode.Signature = append([]byte{}, bad.LeafNode.Signature...)
	bad.LeafNode.Signature[0] ^= 1
	if _, _, _, err := g.tree.Clone().ProcessUpdatePath(g.last, 0, &bad, g.ctx, nil, nil); !errors.Is(err, ErrLeafSignature) {
		t.Errorf("tampered leaf: %v", err)
	}
	// A path with a node missing is rejected.
	bad = *res.Path
	bad.Nodes = bad.Nodes[1:]
	if _, _, _, err := g.tree.Clone().ProcessUpdatePath(g.last, 0, &bad, g.ctx, nil, nil); !errors.Is(err, ErrUpdatePath) {
		t.Errorf("short path: %v", err)
	}
}
