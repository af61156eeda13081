package tree

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

type treeKEMVector struct {
	CipherSuite             uint16   `json:"cipher_suite"`
	GroupID                 hexBytes `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	RatchetTree             hexBytes `json:"ratchet_tree"`
	LeavesPrivate           []struct {
		Index          uint32   `json:"index"`
		EncryptionPriv hexBytes `json:"encryption_priv"`
		SignaturePriv  hexBytes `json:"signature_priv"`
		PathSecrets    []struct {
			Node       uint32   `json:"node"`
			PathSecret hexBytes `json:"path_secret"`
		} `json:"path_secrets"`
	} `json:"leaves_private"`
	UpdatePaths []treeKEMUpdatePath `json:"update_paths"`
}

// treeKEMUpdatePath is one UpdatePath of a treekem.json vector.
type treeKEMUpdatePath struct {
	Sender        uint32     `json:"sender"`
	UpdatePath    hexBytes   `json:"update_path"`
	PathSecrets   []hexBytes `json:"path_secrets"`
	CommitSecret  hexBytes   `json:"commit_secret"`
	TreeHashAfter hexBytes   `json:"tree_hash_after"`
}

func TestTreeKEMVectors(t *testing.T) {
	vectors.Each(t, "treekem.json", func(t *testing.T, v treeKEMVector) { checkTreeKEMVector(t, &v) })
}

func checkTreeKEMVector(t *testing.T, v *treeKEMVector) {
	s := mustSuite(t, v.CipherSuite)
	base := parseTree(t, s, v.RatchetTree)
	pol := &LeafPolicy{GroupID: v.GroupID}
	if err := base.Validate(nil, pol); err != nil {
		t.Fatalf("ratchet tree does not validate: %v", err)
	}
	privs := map[LeafIndex]*Private{}
	sigKeys := map[LeafIndex][]byte{}
	for _, lp := range v.LeavesPrivate {
		p := NewPrivate(LeafIndex(lp.Index), lp.EncryptionPriv)
		for _, ps := range lp.PathSecrets {
			p.PathSecrets[NodeIndex(ps.Node)] = ps.PathSecret
		}
		// The private keys match the public tree.
		if err := p.Check(base); err != nil {
			t.Fatalf("leaf %d: %v", lp.Index, err)
		}
		privs[p.Leaf] = p
		sigKeys[p.Leaf] = lp.SignaturePriv
	}
	ctx := &format.GroupContext{
		Version:                 format.MLS10,
		CipherSuite:             format.CipherSuite(v.CipherSuite),
		GroupID:                 v.GroupID,
		Epoch:                   v.Epoch,
		ConfirmedTranscriptHash: v.ConfirmedTranscriptHash,
		Extensions:              []format.Extension{},
	}
	for j, u := range v.UpdatePaths {
		checkUpdatePathVector(t, j, &u, base, privs, ctx, pol)
		// A fresh UpdatePath from the first sender is processed by every
		// other leaf we hold keys for.
		if j == 0 {
			sender := LeafIndex(u.Sender)
			checkFreshPath(t, base, privs, sender, sigKeys[sender], ctx, pol)
		}
	}
}

// checkUpdatePathVector checks UpdatePath j of a vector: the public merge
// gives the tree hash after, and every leaf we hold keys for, except the
// sender, decrypts the commit secret and the path secret the vector gives.
func checkUpdatePathVector(t *testing.T, j int, u *treeKEMUpdatePath, base *Tree, privs map[LeafIndex]*Private, ctx *format.GroupContext, pol *LeafPolicy) {
	t.Helper()
	var up format.UpdatePath
	if err := codec.Unmarshal(u.UpdatePath, &up); err != nil {
		t.Fatalf("update path %d: decoding: %v", j, err)
	}
	sender := LeafIndex(u.Sender)
	// The public merge gives the expected tree hash and a tree whose
	// parent hashes are all valid.
	merged := base.Clone()
	if err := merged.MergeUpdatePath(sender, &up, pol); err != nil {
		t.Fatalf("update path %d: merge: %v", j, err)
	}
	if h := merged.TreeHash(); !bytes.Equal(h, u.TreeHashAfter) {
		t.Errorf("update path %d: tree hash after: got %x, want %x", j, h, u.TreeHashAfter)
	}
	if err := merged.Validate(u.TreeHashAfter, pol); err != nil {
		t.Errorf("update path %d: merged tree does not validate: %v", j, err)
	}
	decrypted := 0
	for leaf, p := range privs {
		if leaf == sender {
			continue
		}
		tr := base.Clone()
		secret, next, _, err := tr.ProcessUpdatePath(p, sender, &up, ctx, nil, pol)
		if err != nil {
			t.Errorf("update path %d: leaf %d: %v", j, leaf, err)
			continue
		}
		decrypted++
		if !bytes.Equal(secret, u.CommitSecret) {
			t.Errorf("update path %d: leaf %d: commit secret differs", j, leaf)
		}
		x, ps, ok := (&Private{Leaf: sender, PathSecrets: next.PathSecrets}).PathSecretFor(leaf)
		if !ok || !bytes.Equal(ps, u.PathSecrets[leaf]) {
			t.Errorf("update path %d: leaf %d: path secret at node %d differs", j, leaf, x)
		}
		if err := next.Check(tr); err != nil {
			t.Errorf("update path %d: leaf %d: new private state: %v", j, leaf, err)
		}
	}
	want := 0
	for leaf, ps := range u.PathSecrets {
		if ps != nil {
			want++
			if _, ok := privs[LeafIndex(leaf)]; !ok {
				t.Errorf("update path %d: vector has a path secret for leaf %d without private keys", j, leaf)
			}
		}
	}
	if decrypted != want {
		t.Errorf("update path %d: %d leaves decrypted, vector expects %d", j, decrypted, want)
	}
}

func checkFreshPath(t *testing.T, base *Tree, privs map[LeafIndex]*Private, sender LeafIndex, sigKey []byte, ctx *format.GroupContext, pol *LeafPolicy) {
	t.Helper()
	committer := base.Clone()
	res, err := committer.CreateUpdatePath(&CommitParams{
		Sender: sender, SignatureKey: sigKey, Context: ctx, Rand: rand.Reader,
	})
	if err != nil {
		t.Fatalf("fresh path from %d: %v", sender, err)
	}
	if err := res.Private.Check(committer); err != nil {
		t.Errorf("fresh path from %d: committer state: %v", sender, err)
	}
	if err := committer.Validate(nil, pol); err != nil {
		t.Errorf("fresh path from %d: committer's tree does not validate: %v", sender, err)
	}
	// The path survives encoding.
	var up format.UpdatePath
	if err := codec.Unmarshal(codec.MustMarshal(res.Path), &up); err != nil {
		t.Fatalf("fresh path from %d: round trip: %v", sender, err)
	}
	for leaf, p := range privs {
		if leaf == sender {
			continue
		}
		tr := base.Clone()
		secret, next, enc, err := tr.ProcessUpdatePath(p, sender, &up, ctx, nil, pol)
		if err != nil {
			t.Errorf("fresh path from %d: leaf %d: %v", sender, leaf, err)
			continue
		}
		if !bytes.Equal(secret, res.CommitSecret) || !bytes.Equal(enc, res.Context) {
			t.Errorf("fresh path from %d: leaf %d: commit secret or context differs", sender, leaf)
		}
		if !bytes.Equal(tr.TreeHash(), committer.TreeHash()) {
			t.Errorf("fresh path from %d: leaf %d: tree hash differs", sender, leaf)
		}
		// The receiver learns the same secret the committer would put in
		// a Welcome for it.
		x, want, _ := res.Private.PathSecretFor(leaf)
		if !bytes.Equal(next.PathSecrets[x], want) {
			t.Errorf("fresh path from %d: leaf %d: path secret at %d differs", sender, leaf, x)
		}
	}
}
