package tree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// Errors of UpdatePath processing.
var (
	ErrUpdatePath = errors.New("invalid UpdatePath")
	ErrNoKey      = errors.New("no private key for the UpdatePath's resolution")
	ErrDecrypt    = errors.New("cannot decrypt path secret")
)

const updatePathLabel = "UpdatePathNode"

// CommitParams are the inputs of CreateUpdatePath.
type CommitParams struct {
	// Sender is the committer's leaf.
	Sender LeafIndex
	// Leaf is the template of the committer's new leaf node: signature
	// key, credential, capabilities and extensions are taken from it.
	// Nil means the committer's current leaf.
	Leaf *format.LeafNode
	// SignatureKey is the committer's signature private key.
	SignatureKey []byte
	// Exclude lists the leaves added by this commit, which get the path
	// secret through the Welcome instead (RFC 9420 §7.5, §12.4.2).
	Exclude []LeafIndex
	// Context is the provisional GroupContext of the new epoch; its
	// TreeHash is set to the new tree hash before it is used as the HPKE
	// context (RFC 9420 §7.5, §12.4.2). Its GroupID is the group id that
	// the new leaf signs.
	Context *format.GroupContext
	// Rand is the source of the fresh leaf_secret.
	Rand io.Reader
}

// CommitResult is what CreateUpdatePath produces.
type CommitResult struct {
	Path         *format.UpdatePath
	CommitSecret []byte
	Private      *Private // the committer's new private state
	Context      []byte   // the encoded provisional GroupContext
}

// CreateUpdatePath generates the committer's new path (RFC 9420 §7.4,
// §7.5, §7.6): a fresh leaf_secret, path secrets up the filtered direct
// path, node key pairs, parent hashes and a newly signed leaf of source
// commit. It merges the path into t, then encrypts each path secret to the
// resolution of the copath child minus Exclude under the provisional
// GroupContext. t must already reflect the commit's proposals.
func (t *Tree) CreateUpdatePath(p *CommitParams) (*CommitResult, error) {
	s := t.suite
	old := t.Leaf(p.Sender)
	if old == nil {
		return nil, fmt.Errorf("mls: creating UpdatePath: sender leaf %d is blank", p.Sender)
	}
	if p.Context == nil || p.Rand == nil {
		return nil, errors.New("mls: creating UpdatePath: missing context or randomness")
	}
	path, copath := t.FilteredDirectPath(p.Sender)

	// RFC 9420 §7.4: leaf_secret is fresh; each path secret derives from
	// the one below it.
	leafSecret := make([]byte, s.HashLen())
	if _, err := io.ReadFull(p.Rand, leafSecret); err != nil {
		return nil, fmt.Errorf("mls: creating UpdatePath: reading randomness: %w", err)
	}
	leafPriv, leafPub, err := nodeKeyPair(s, leafSecret)
	if err != nil {
		return nil, fmt.Errorf("mls: creating UpdatePath: %w", err)
	}
	priv := NewPrivate(p.Sender, leafPriv)
	secrets := make([][]byte, len(path))
	pubs := make([][]byte, len(path))
	secret := leafSecret
	for i, x := range path {
		secret = s.DeriveSecret(secret, "path")
		secrets[i] = secret
		priv.PathSecrets[x] = secret
		if _, pubs[i], err = nodeKeyPair(s, secret); err != nil {
			return nil, fmt.Errorf("mls: creating UpdatePath: %w", err)
		}
	}
	commitSecret := s.DeriveSecret(secret, "path")

	// RFC 9420 §7.5: blank the direct path, install the new parent nodes
	// with their parent hashes, then the new signed leaf.
	t.BlankPath(p.Sender)
	leafPH := t.installPath(path, copath, pubs)
	leaf := *old
	if p.Leaf != nil {
		leaf = *p.Leaf
	}
	leaf.EncryptionKey = leafPub
	leaf.Source = format.LeafSourceCommit
	leaf.Lifetime = format.Lifetime{}
	leaf.ParentHash = leafPH
	tbs := leaf.TBS(p.Context.GroupID, uint32(p.Sender))
	if tbs == nil {
		return nil, errors.New("mls: creating UpdatePath: leaf node cannot be encoded")
	}
	if leaf.Signature, err = s.SignWithLabel(p.SignatureKey, "LeafNodeTBS", tbs); err != nil {
		return nil, fmt.Errorf("mls: creating UpdatePath: signing leaf node: %w", err)
	}
	t.setNode(treemath.NodeOf(p.Sender), &format.Node{Leaf: &leaf})

	ctx, err := t.provisionalContext(p.Context)
	if err != nil {
		return nil, fmt.Errorf("mls: creating UpdatePath: %w", err)
	}
	up := &format.UpdatePath{LeafNode: leaf, Nodes: make([]format.UpdatePathNode, len(path))}
	for i := range path {
		up.Nodes[i].EncryptionKey = pubs[i]
		up.Nodes[i].EncryptedPathSecret = []format.HPKECiphertext{}
		for _, r := range t.excludedResolution(copath[i], p.Exclude) {
			// RFC 9420 §7.6: encrypt the path secret to each resolution
			// node with the provisional GroupContext as context.
			kem, ct, err := s.EncryptWithLabel(t.encryptionKey(r), updatePathLabel, ctx, secrets[i])
			if err != nil {
				return nil, fmt.Errorf("mls: creating UpdatePath: encrypting to node %d: %w", r, err)
			}
			up.Nodes[i].EncryptedPathSecret = append(up.Nodes[i].EncryptedPathSecret, format.HPKECiphertext{KEMOutput: kem, Ciphertext: ct})
		}
	}
	return &CommitResult{Path: up, CommitSecret: commitSecret, Private: priv, Context: ctx}, nil
}

// provisionalContext encodes ctx with the current tree hash.
func (t *Tree) provisionalContext(ctx *format.GroupContext) ([]byte, error) {
	c := *ctx
	c.TreeHash = t.TreeHash()
	return codec.Marshal(&c)
}

// excludedResolution is the resolution of x without the leaves in exclude
// (RFC 9420 §12.4.2).
func (t *Tree) excludedResolution(x NodeIndex, exclude []LeafIndex) []NodeIndex {
	res := t.Resolution(x)
	if len(exclude) == 0 {
		return res
	}
	return slices.DeleteFunc(res, func(y NodeIndex) bool {
		return y.IsLeaf() && slices.Contains(exclude, y.Leaf())
	})
}

// installPath sets the parent nodes of a filtered direct path to fresh
// nodes with the given keys and computes their parent_hash values from
// the root down (RFC 9420 §7.9). It returns the parent hash the leaf must
// carry. The rest of the direct path must already be blank.
func (t *Tree) installPath(path, copath []NodeIndex, pubs [][]byte) []byte {
	var ph []byte
	for i := len(path) - 1; i >= 0; i-- {
		node := &format.ParentNode{EncryptionKey: pubs[i], ParentHash: ph, UnmergedLeaves: []uint32{}}
		if ph == nil {
			node.ParentHash = []byte{}
		}
		t.setNode(path[i], &format.Node{Parent: node})
		ph = t.parentHashOf(node, copath[i])
	}
	if ph == nil {
		ph = []byte{}
	}
	return ph
}

// MergeUpdatePath validates a received UpdatePath against the tree and
// merges its public part (RFC 9420 §12.4.2, §7.5): the number of nodes
// equals the filtered direct path's length, the leaf node is a valid
// commit leaf for the sender (RFC 9420 §7.3), and after the new keys are
// installed the leaf's parent_hash matches (RFC 9420 §7.9.2). t must
// already reflect the commit's proposals. On error t may be partly
// modified; work on a Clone.
func (t *Tree) MergeUpdatePath(sender LeafIndex, up *format.UpdatePath, pol *LeafPolicy) error {
	if t.Leaf(sender) == nil {
		return fmt.Errorf("mls: merging UpdatePath: %w: sender leaf %d is blank", ErrUpdatePath, sender)
	}
	path, copath := t.FilteredDirectPath(sender)
	// RFC 9420 §12.4.2: one UpdatePathNode per filtered direct path node.
	if len(up.Nodes) != len(path) {
		return fmt.Errorf("mls: merging UpdatePath: %w: %d nodes for a filtered direct path of %d (RFC 9420 §12.4.2)", ErrUpdatePath, len(up.Nodes), len(path))
	}
	// RFC 9420 §12.4.2: the leaf node is valid with source commit.
	if err := t.ValidateLeafNode(&up.LeafNode, sender, format.LeafSourceCommit, pol); err != nil {
		return fmt.Errorf("mls: merging UpdatePath: %w", err)
	}
	pubs := make([][]byte, len(path))
	for i := range up.Nodes {
		if err := t.suite.CheckHPKEPublicKey(up.Nodes[i].EncryptionKey); err != nil {
			return fmt.Errorf("mls: merging UpdatePath: %w: node %d: %w", ErrUpdatePath, path[i], ErrPublicKey)
		}
		pubs[i] = up.Nodes[i].EncryptionKey
	}
	t.BlankPath(sender)
	ph := t.installPath(path, copath, pubs)
	// RFC 9420 §7.9.2, §12.4.2: the leaf's parent_hash must chain to the
	// new path.
	if !bytes.Equal(ph, up.LeafNode.ParentHash) {
		return fmt.Errorf("mls: merging UpdatePath: %w: leaf parent hash (RFC 9420 §7.9.2)", ErrParentHash)
	}
	leaf := up.LeafNode
	t.setNode(treemath.NodeOf(sender), &format.Node{Leaf: &leaf})
	return nil
}

// DecryptUpdatePath recovers the path secrets of a merged UpdatePath for
// the member holding priv (RFC 9420 §12.4.2): it finds the lowest node of
// the sender's filtered direct path above our leaf, decrypts its path
// secret with a private key from the copath child's resolution (minus
// exclude) using the encoded provisional GroupContext ctx, derives the
// secrets up to the root, checks that the derived public keys match the
// tree, and returns commit_secret and our new private state. Call it after
// MergeUpdatePath.
func (t *Tree) DecryptUpdatePath(priv *Private, sender LeafIndex, up *format.UpdatePath, ctx []byte, exclude []LeafIndex) ([]byte, *Private, error) {
	s := t.suite
	if priv.Leaf == sender || slices.Contains(exclude, priv.Leaf) {
		return nil, nil, fmt.Errorf("mls: decrypting UpdatePath: %w: leaf %d cannot process this path", ErrNoKey, priv.Leaf)
	}
	path, copath := t.FilteredDirectPath(sender)
	if len(up.Nodes) != len(path) {
		return nil, nil, fmt.Errorf("mls: decrypting UpdatePath: %w: node count (RFC 9420 §12.4.2)", ErrUpdatePath)
	}
	me := treemath.NodeOf(priv.Leaf)
	i := slices.IndexFunc(path, func(x NodeIndex) bool { return treemath.IsInSubtree(me, x) })
	if i < 0 {
		return nil, nil, fmt.Errorf("mls: decrypting UpdatePath: %w", ErrNoKey)
	}
	res := t.excludedResolution(copath[i], exclude)
	// RFC 9420 §12.4.2: one ciphertext per resolution node.
	if len(up.Nodes[i].EncryptedPathSecret) != len(res) {
		return nil, nil, fmt.Errorf("mls: decrypting UpdatePath: %w: %d ciphertexts for a resolution of %d", ErrUpdatePath, len(up.Nodes[i].EncryptedPathSecret), len(res))
	}
	var secret []byte
	for k, r := range res {
		key, ok, err := priv.privateKey(s, r)
		if err != nil {
			return nil, nil, fmt.Errorf("mls: decrypting UpdatePath: node %d: %w", r, err)
		}
		if !ok {
			continue
		}
		ct := &up.Nodes[i].EncryptedPathSecret[k]
		secret, err = s.DecryptWithLabel(key, updatePathLabel, ctx, ct.KEMOutput, ct.Ciphertext)
		if err != nil {
			return nil, nil, fmt.Errorf("mls: decrypting UpdatePath: node %d: %w", path[i], ErrDecrypt)
		}
		break
	}
	if secret == nil {
		return nil, nil, fmt.Errorf("mls: decrypting UpdatePath: %w", ErrNoKey)
	}
	next := priv.Clone()
	for x := range next.PathSecrets {
		if treemath.IsInSubtree(treemath.NodeOf(sender), x) {
			delete(next.PathSecrets, x) // replaced or blanked by the path
		}
	}
	for j := i; j < len(path); j++ {
		if j > i {
			secret = s.DeriveSecret(secret, "path")
		}
		// RFC 9420 §12.4.2: derived public keys match the UpdatePath's.
		_, pub, err := nodeKeyPair(s, secret)
		if err != nil || !bytes.Equal(pub, up.Nodes[j].EncryptionKey) {
			return nil, nil, fmt.Errorf("mls: decrypting UpdatePath: %w: derived key of node %d differs (RFC 9420 §12.4.2)", ErrUpdatePath, path[j])
		}
		next.PathSecrets[path[j]] = secret
	}
	return s.DeriveSecret(secret, "path"), next, nil
}

// ProcessUpdatePath merges a received UpdatePath and decrypts it: it is
// MergeUpdatePath, then the provisional GroupContext (ctx with the new tree
// hash), then DecryptUpdatePath. It returns commit_secret, the new private
// state and the encoded provisional GroupContext.
func (t *Tree) ProcessUpdatePath(priv *Private, sender LeafIndex, up *format.UpdatePath, ctx *format.GroupContext, exclude []LeafIndex, pol *LeafPolicy) ([]byte, *Private, []byte, error) {
	if pol == nil {
		pol = &LeafPolicy{GroupID: ctx.GroupID}
	}
	if err := t.MergeUpdatePath(sender, up, pol); err != nil {
		return nil, nil, nil, err
	}
	enc, err := t.provisionalContext(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mls: processing UpdatePath: %w", err)
	}
	secret, next, err := t.DecryptUpdatePath(priv, sender, up, enc, exclude)
	if err != nil {
		return nil, nil, nil, err
	}
	return secret, next, enc, nil
}
