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

func (g *GroupInfo) marshalTBS(w *codec.Writer) {
	g.GroupContext.MarshalMLS(w)
	writeStructs(w, g.Extensions)
	w.VarBytes(g.ConfirmationTag)
	w.Uint32(g.Signer)
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupInfo) MarshalMLS(w *codec.Writer) {
	g.marshalTBS(w)
	w.VarBytes(g.Signature)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupInfo) UnmarshalMLS(r *codec.Reader) {
	g.GroupContext.UnmarshalMLS(r)
	g.Extensions = readExtensions(r)
	g.ConfirmationTag = r.VarBytes()
	g.Signer = r.Uint32()
	g.Signature = r.VarBytes()
}

// TBS returns the GroupInfoTBS encoding that Signature covers, to be used
// with SignWithLabel(., "GroupInfoTBS", .) (RFC 9420 §12.4.3). It returns
// nil if the group info cannot be encoded.
func (g *GroupInfo) TBS() []byte {
	b, err := marshalFunc(g.marshalTBS)
	if err != nil {
		return nil
	}
	return b
}

// GroupSecrets is what a Welcome encrypts to each new member (RFC 9420
// §12.4.3.1).
type GroupSecrets struct {
	JoinerSecret []byte
	PathSecret   []byte // optional<PathSecret>; nil if absent
	PSKs         []PreSharedKeyID
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupSecrets) MarshalMLS(w *codec.Writer) {
	w.VarBytes(g.JoinerSecret)
	w.Optional(g.PathSecret != nil, func(w *codec.Writer) { w.VarBytes(g.PathSecret) })
	writeStructs(w, g.PSKs)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupSecrets) UnmarshalMLS(r *codec.Reader) {
	g.JoinerSecret = r.VarBytes()
	g.PathSecret = nil
	if r.Optional() {
		g.PathSecret = r.VarBytes() // non-nil even when empty
	}
	g.PSKs = readStructs[PreSharedKeyID](r)
}

// EncryptedGroupSecrets is GroupSecrets encrypted to one new member's
// KeyPackage (RFC 9420 §12.4.3.1).
type EncryptedGroupSecrets struct {
	NewMember             []byte // KeyPackageRef
	EncryptedGroupSecrets HPKECiphertext
}

// MarshalMLS implements codec.Marshaler.
func (e *EncryptedGroupSecrets) MarshalMLS(w *codec.Writer) {
	w.VarBytes(e.NewMember)
	e.EncryptedGroupSecrets.MarshalMLS(w)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (e *EncryptedGroupSecrets) UnmarshalMLS(r *codec.Reader) {
	e.NewMember = r.VarBytes()
	e.EncryptedGroupSecrets.UnmarshalMLS(r)
}

// Welcome invites new members into a group (RFC 9420 §12.4.3.1).
type Welcome struct {
	CipherSuite        CipherSuite
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

// MarshalMLS implements codec.Marshaler.
func (wl *Welcome) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(wl.CipherSuite))
	writeStructs(w, wl.Secrets)
	w.VarBytes(wl.EncryptedGroupInfo)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (wl *Welcome) UnmarshalMLS(r *codec.Reader) {
	wl.CipherSuite = CipherSuite(r.Uint16())
	wl.Secrets = readStructs[EncryptedGroupSecrets](r)
	wl.EncryptedGroupInfo = r.VarBytes()
}
