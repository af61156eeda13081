package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// GroupInfo is the signed public state a joiner needs (RFC 9420 §12.4.3).
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      []Extension
	ConfirmationTag []byte
	Signer          uint32 // leaf index of the signer
	Signature       []byte
}

// codeTBS codes the fields of GroupInfoTBS, all but the signature.
func (g *GroupInfo) codeTBS(c coder) {
	g.GroupContext.code(c)
	codeExtensions(c, &g.Extensions)
	c.bytes(&g.ConfirmationTag)
	c.u32(&g.Signer)
}

func (g *GroupInfo) code(c coder) {
	g.codeTBS(c)
	c.bytes(&g.Signature)
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupInfo) MarshalMLS(w *codec.Writer) { g.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupInfo) UnmarshalMLS(r *codec.Reader) { g.code(coder{r: r}) }

// TBS returns the GroupInfoTBS encoding that Signature covers, to be used
// with SignWithLabel(., "GroupInfoTBS", .) (RFC 9420 §12.4.3). It returns
// nil if the group info cannot be encoded.
func (g *GroupInfo) TBS() []byte {
	return tbsBytes(g.codeTBS)
}

// GroupSecrets is what a Welcome encrypts to each new member (RFC 9420
// §12.4.3.1).
type GroupSecrets struct {
	JoinerSecret []byte
	PathSecret   []byte // optional<PathSecret>; nil if absent
	PSKs         []PreSharedKeyID
}

func (g *GroupSecrets) code(c coder) {
	c.bytes(&g.JoinerSecret)
	if c.optional(g.PathSecret != nil) {
		c.bytes(&g.PathSecret) // decoded: non-nil even when empty
	} else if c.reading() {
		g.PathSecret = nil
	}
	codeStructs(c, &g.PSKs)
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupSecrets) MarshalMLS(w *codec.Writer) { g.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupSecrets) UnmarshalMLS(r *codec.Reader) { g.code(coder{r: r}) }

// EncryptedGroupSecrets is GroupSecrets encrypted to one new member's
// KeyPackage (RFC 9420 §12.4.3.1).
type EncryptedGroupSecrets struct {
	NewMember             []byte // KeyPackageRef
	EncryptedGroupSecrets HPKECiphertext
}

func (e *EncryptedGroupSecrets) code(c coder) {
	c.bytes(&e.NewMember)
	e.EncryptedGroupSecrets.code(c)
}

// MarshalMLS implements codec.Marshaler.
func (e *EncryptedGroupSecrets) MarshalMLS(w *codec.Writer) { e.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *EncryptedGroupSecrets) UnmarshalMLS(r *codec.Reader) { e.code(coder{r: r}) }

// Welcome invites new members into a group (RFC 9420 §12.4.3.1).
type Welcome struct {
	CipherSuite        CipherSuite
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

func (wl *Welcome) code(c coder) {
	c.u16((*uint16)(&wl.CipherSuite))
	codeStructs(c, &wl.Secrets)
	c.bytes(&wl.EncryptedGroupInfo)
}

// MarshalMLS implements codec.Marshaler.
func (wl *Welcome) MarshalMLS(w *codec.Writer) { wl.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (wl *Welcome) UnmarshalMLS(r *codec.Reader) { wl.code(coder{r: r}) }
