package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// ParentNode is an interior node of the ratchet tree (RFC 9420 §7.1).
type ParentNode struct {
	EncryptionKey  []byte // HPKEPublicKey
	ParentHash     []byte
	UnmergedLeaves []uint32 // leaf indices
}

func (p *ParentNode) code(c coder) {
	c.bytes(&p.EncryptionKey)
	c.bytes(&p.ParentHash)
	codeList(c, &p.UnmergedLeaves, func(c coder, leaf *uint32) { c.u32(leaf) })
}

// MarshalMLS implements codec.Marshaler.
func (p *ParentNode) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ParentNode) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// Node is a non-blank ratchet tree node: exactly one of Leaf and Parent is
// set (RFC 9420 §7.8, §12.4.3.3).
type Node struct {
	Leaf   *LeafNode
	Parent *ParentNode
}

// Type returns the node type implied by which field is set.
func (n *Node) Type() NodeType {
	if n.Leaf != nil {
		return NodeTypeLeaf
	}
	return NodeTypeParent
}

// nodeArms are Node's cases (union.go).
var nodeArms = []arm[Node, NodeType]{
	armOf(NodeTypeLeaf, func(n *Node) **LeafNode { return &n.Leaf }),
	armOf(NodeTypeParent, func(n *Node) **ParentNode { return &n.Parent }),
}

// code codes n; its type, encoding, is the one of the field that is set.
func (n *Node) code(c coder) {
	c.refuse((n.Leaf != nil) == (n.Parent != nil), "Node", "exactly one of Leaf and Parent must be set")
	reset(c, n)
	t := n.Type()
	c.u8((*uint8)(&t))
	// RFC 9420 §12.4.3.3: the select cannot be parsed for other types.
	codeArm(c, nodeArms, n, t, "Node", "exactly one of Leaf and Parent must be set", "Node type")
}

// MarshalMLS implements codec.Marshaler.
func (n *Node) MarshalMLS(w *codec.Writer) { n.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (n *Node) UnmarshalMLS(r *codec.Reader) { n.code(coder{r: r}) }

// RatchetTree is the array form of a ratchet tree as carried in the
// ratchet_tree extension, optional<Node> ratchet_tree<V> (RFC 9420
// §12.4.3.3): entry i is node i, nil for a blank node. The decoder does not
// check the tree's shape (trailing blanks, node count); that is the ratchet
// tree package's job (RFC 9420 §12.4.3.3).
type RatchetTree []*Node

func (t *RatchetTree) code(c coder) {
	codeList(c, (*[]*Node)(t), func(c coder, n **Node) { codeOptional(c, n) })
}

// MarshalMLS implements codec.Marshaler.
func (t *RatchetTree) MarshalMLS(w *codec.Writer) { t.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (t *RatchetTree) UnmarshalMLS(r *codec.Reader) { t.code(coder{r: r}) }

// HPKECiphertext is an HPKE-encrypted blob (RFC 9420 §7.6).
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

func (h *HPKECiphertext) code(c coder) {
	c.bytes(&h.KEMOutput)
	c.bytes(&h.Ciphertext)
}

// MarshalMLS implements codec.Marshaler.
func (h *HPKECiphertext) MarshalMLS(w *codec.Writer) { h.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (h *HPKECiphertext) UnmarshalMLS(r *codec.Reader) { h.code(coder{r: r}) }

// UpdatePathNode is one node of an UpdatePath: the new public key and the
// path secret encrypted to each resolution member (RFC 9420 §7.6).
type UpdatePathNode struct {
	EncryptionKey       []byte // HPKEPublicKey
	EncryptedPathSecret []HPKECiphertext
}

func (n *UpdatePathNode) code(c coder) {
	c.bytes(&n.EncryptionKey)
	codeStructs(c, &n.EncryptedPathSecret)
}

// MarshalMLS implements codec.Marshaler.
func (n *UpdatePathNode) MarshalMLS(w *codec.Writer) { n.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (n *UpdatePathNode) UnmarshalMLS(r *codec.Reader) { n.code(coder{r: r}) }

// UpdatePath is the path a committer sends with a Commit (RFC 9420 §7.6).
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

func (p *UpdatePath) code(c coder) {
	p.LeafNode.code(c)
	codeStructs(c, &p.Nodes)
}

// MarshalMLS implements codec.Marshaler.
func (p *UpdatePath) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *UpdatePath) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }
