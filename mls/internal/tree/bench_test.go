package tree

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// benchGroup is a full tree of n members whose keys are derived
// deterministically, with the private state of the first and last member.
type benchGroup struct {
	tree                   *Tree
	first, last            *Private
	firstSig               []byte
	ctx                    *format.GroupContext
	pol                    *LeafPolicy
	firstLeaf, lastLeafIdx LeafIndex
}

var (
	benchMu     sync.Mutex
	benchGroups = map[int]*benchGroup{}
)

// seedFor returns a deterministic secret for a label and index.
func seedFor(label string, i uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], i)
	h := sha256.Sum256(append([]byte(label), b[:]...))
	return h[:]
}

// buildBenchGroup makes a tree of n leaves in which every parent node
// above a member holds a key, so that every copath resolution has one
// node, as in a group where everyone has committed.
func buildBenchGroup(tb testing.TB, n int) *benchGroup {
	tb.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if g, ok := benchGroups[n]; ok {
		return g
	}
	s, err := suite.Get(suite.X25519AES128GCMSHA256Ed25519)
	if err != nil {
		tb.Fatal(err)
	}
	groupID := []byte("benchmark group")
	nl := uint32(1)
	for nl < uint32(n) {
		nl *= 2
	}
	rt := make(format.RatchetTree, treemath.Width(nl))
	sigRand := mrand.NewChaCha8([32]byte{1})
	var firstSig []byte
	encPrivs := map[LeafIndex][]byte{}
	for i := 0; i < n; i++ {
		leaf, encPriv, sigPriv := benchLeaf(tb, s, i, sigRand)
		if i == 0 {
			firstSig = sigPriv
		}
		if i == 0 || i == n-1 {
			encPrivs[LeafIndex(i)] = encPriv
		}
		rt[2*i] = &format.Node{Leaf: leaf}
	}
	for x := 1; x < len(rt); x += 2 {
		// A parent holds a key if members sit below both its children
		// (otherwise no filtered direct path contains it): the leftmost
		// leaf of its right subtree, node x+1, is a member.
		if x+1 > 2*(n-1) {
			continue
		}
		_, pub, err := nodeKeyPair(s, seedFor("node", uint32(x)))
		if err != nil {
			tb.Fatal(err)
		}
		rt[x] = &format.Node{Parent: &format.ParentNode{EncryptionKey: pub, ParentHash: []byte{}, UnmergedLeaves: []uint32{}}}
	}
	end := len(rt)
	for rt[end-1] == nil {
		end--
	}
	t, err := FromRatchetTree(s, rt[:end])
	if err != nil {
		tb.Fatal(err)
	}
	privFor := func(l LeafIndex) *Private {
		p := NewPrivate(l, encPrivs[l])
		for _, x := range treemath.DirectPath(treemath.NodeOf(l), t.NumLeaves()) {
			if t.ParentNode(x) != nil {
				p.PathSecrets[x] = seedFor("node", uint32(x))
			}
		}
		return p
	}
	g := &benchGroup{
		tree:        t,
		first:       privFor(0),
		last:        privFor(LeafIndex(n - 1)),
		firstSig:    firstSig,
		firstLeaf:   0,
		lastLeafIdx: LeafIndex(n - 1),
		ctx: &format.GroupContext{
			Version: format.MLS10, CipherSuite: 1, GroupID: groupID, Epoch: 1,
			ConfirmedTranscriptHash: make([]byte, 32), Extensions: []format.Extension{},
		},
		pol: &LeafPolicy{GroupID: groupID},
	}
	if err := g.last.Check(t); err != nil {
		tb.Fatal(err)
	}
	benchGroups[n] = g
	return g
}

// benchLeaf makes member i's leaf, with its encryption key derived from i
// and a signature key drawn from sigRand, and returns it with both private
// keys.
func benchLeaf(tb testing.TB, s *suite.Suite, i int, sigRand io.Reader) (leaf *format.LeafNode, encPriv, sigPriv []byte) {
	tb.Helper()
	encPriv, encPub, err := s.DeriveKeyPair(seedFor("leaf", uint32(i)))
	if err != nil {
		tb.Fatal(err)
	}
	sigPriv, sigPub, err := s.GenerateSignatureKey(sigRand)
	if err != nil {
		tb.Fatal(err)
	}
	leaf = &format.LeafNode{
		EncryptionKey: encPub,
		SignatureKey:  sigPub,
		Credential:    format.Credential{Type: format.CredentialBasic, Identity: fmt.Appendf(nil, "member %d", i)},
		Capabilities: format.Capabilities{
			Versions:     []format.ProtocolVersion{format.MLS10},
			CipherSuites: []format.CipherSuite{1},
			Extensions:   []format.ExtensionType{},
			Proposals:    []format.ProposalType{},
			Credentials:  []format.CredentialType{format.CredentialBasic},
		},
		Source:     format.LeafSourceKeyPackage,
		Lifetime:   format.Lifetime{NotBefore: 0, NotAfter: 1 << 62},
		Extensions: []format.Extension{},
		// Signatures of existing leaves are not checked on the commit
		// path, so the benchmark skips signing 10,000 leaves.
		Signature: []byte{},
	}
	return leaf, encPriv, sigPriv
}

var benchSizes = []int{2, 100, 1000, 10000}

func BenchmarkCreateUpdatePath(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			g := buildBenchGroup(b, n)
			t := g.tree.Clone()
			t.TreeHash() // warm the cache, as a long-lived group has it
			b.ResetTimer()
			for b.Loop() {
				if _, err := t.CreateUpdatePath(&CommitParams{
					Sender: 0, SignatureKey: g.firstSig, Context: g.ctx, Rand: rand.Reader,
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkProcessUpdatePath(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			g := buildBenchGroup(b, n)
			committer := g.tree.Clone()
			receiver := g.tree.Clone()
			priv := g.last
			committer.TreeHash() // warm the caches, as a long-lived group has them
			receiver.TreeHash()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				res, err := committer.CreateUpdatePath(&CommitParams{
					Sender: 0, SignatureKey: g.firstSig, Context: g.ctx, Rand: rand.Reader,
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				secret, next, _, err := receiver.ProcessUpdatePath(priv, 0, res.Path, g.ctx, nil, g.pol)
				if err != nil {
					b.Fatal(err)
				}
				if !equalBytes(secret, res.CommitSecret) {
					b.Fatal("commit secrets differ")
				}
				priv = next
			}
		})
	}
}

func equalBytes(a, b []byte) bool { return string(a) == string(b) }

// BenchmarkTreeHashAfterPathChange replaces the direct path of one leaf in
// a 10,000-member tree and recomputes the root hash: with the per-node
// cache only the changed path is rehashed. The full variant clears the
// cache first, for comparison.
func BenchmarkTreeHashAfterPathChange(b *testing.B) {
	g := buildBenchGroup(b, 10000)
	for _, full := range []bool{false, true} {
		b.Run(fmt.Sprintf("full=%v", full), func(b *testing.B) {
			t := g.tree.Clone()
			t.TreeHash()
			path := treemath.DirectPath(treemath.NodeOf(4321), t.NumLeaves())
			i := 0
			for b.Loop() {
				i++
				for _, x := range path {
					p := *t.ParentNode(x)
					p.ParentHash = seedFor("bench", uint32(i))
					t.setNode(x, &format.Node{Parent: &p})
				}
				if full {
					clear(t.hashes)
				}
				t.TreeHash()
			}
		})
	}
}
