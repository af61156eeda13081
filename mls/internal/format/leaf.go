package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// Credential binds an identity to a signature key (RFC 9420 §5.3).
//
// The body of a credential is selected by its type with no length prefix,
// so a credential of an unknown type cannot be skipped: the decoder rejects
// it (RFC 9420 §5.3). Extension data, in contrast, is opaque<V>, so unknown
// extension types are carried.
type Credential struct {
	Type         CredentialType
	Identity     []byte   // basic
	Certificates [][]byte // x509: cert_data of each Certificate, leaf first
}

func (cr *Credential) code(c coder) {
	reset(c, cr)
	c.u16((*uint16)(&cr.Type))
	if c.err() != nil {
		return
	}
	switch cr.Type {
	case CredentialBasic:
		c.bytes(&cr.Identity)
	case CredentialX509:
		codeList(c, &cr.Certificates, func(c coder, cert *[]byte) { c.bytes(cert) })
	default:
		// RFC 9420 §5.3: the select has no length prefix for other types.
		c.unknownTag("Credential", "unknown credential type", "Credential", uint64(cr.Type))
	}
}

// MarshalMLS implements codec.Marshaler.
func (cr *Credential) MarshalMLS(w *codec.Writer) { cr.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (cr *Credential) UnmarshalMLS(r *codec.Reader) { cr.code(coder{r: r}) }

// Capabilities lists what a client supports (RFC 9420 §7.2). Unknown values
// (including GREASE, §13.5) are carried.
type Capabilities struct {
	Versions     []ProtocolVersion
	CipherSuites []CipherSuite
	Extensions   []ExtensionType
	Proposals    []ProposalType
	Credentials  []CredentialType
}

func (cp *Capabilities) code(c coder) {
	codeUint16s(c, &cp.Versions)
	codeUint16s(c, &cp.CipherSuites)
	codeUint16s(c, &cp.Extensions)
	codeUint16s(c, &cp.Proposals)
	codeUint16s(c, &cp.Credentials)
}

// MarshalMLS implements codec.Marshaler.
func (cp *Capabilities) MarshalMLS(w *codec.Writer) { cp.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (cp *Capabilities) UnmarshalMLS(r *codec.Reader) { cp.code(coder{r: r}) }

// Lifetime is the validity window of a KeyPackage leaf, in seconds since
// the Unix epoch (RFC 9420 §7.2).
type Lifetime struct {
	NotBefore, NotAfter uint64
}

func (l *Lifetime) code(c coder) {
	c.u64(&l.NotBefore)
	c.u64(&l.NotAfter)
}

// MarshalMLS implements codec.Marshaler.
func (l *Lifetime) MarshalMLS(w *codec.Writer) { l.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (l *Lifetime) UnmarshalMLS(r *codec.Reader) { l.code(coder{r: r}) }

// LeafNode is a member's leaf in the ratchet tree (RFC 9420 §7.2).
type LeafNode struct {
	EncryptionKey []byte // HPKEPublicKey
	SignatureKey  []byte // SignaturePublicKey
	Credential    Credential
	Capabilities  Capabilities
	Source        LeafNodeSource
	Lifetime      Lifetime // only for LeafSourceKeyPackage
	ParentHash    []byte   // only for LeafSourceCommit
	Extensions    []Extension
	Signature     []byte
}

// codeContent codes every field before the LeafNodeTBS-specific tail:
// all but the signature.
func (l *LeafNode) codeContent(c coder) {
	reset(c, l)
	c.bytes(&l.EncryptionKey)
	c.bytes(&l.SignatureKey)
	l.Credential.code(c)
	l.Capabilities.code(c)
	c.u8((*uint8)(&l.Source))
	if c.err() != nil {
		return
	}
	switch l.Source {
	case LeafSourceKeyPackage:
		l.Lifetime.code(c)
	case LeafSourceUpdate:
	case LeafSourceCommit:
		c.bytes(&l.ParentHash)
	default:
		// RFC 9420 §7.2: the select cannot be parsed for other sources.
		c.unknownTag("LeafNode", "unknown leaf node source", "LeafNode source", uint64(l.Source))
		return
	}
	codeExtensions(c, &l.Extensions)
}

func (l *LeafNode) code(c coder) {
	l.codeContent(c)
	c.bytes(&l.Signature)
}

// MarshalMLS implements codec.Marshaler.
func (l *LeafNode) MarshalMLS(w *codec.Writer) { l.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (l *LeafNode) UnmarshalMLS(r *codec.Reader) { l.code(coder{r: r}) }

// TBS returns the LeafNodeTBS encoding that Signature covers, to be used
// with SignWithLabel(., "LeafNodeTBS", .) (RFC 9420 §7.2). groupID and
// leafIndex are included only for the update and commit sources. It returns
// nil if the leaf cannot be encoded (unknown source or oversized field).
func (l *LeafNode) TBS(groupID []byte, leafIndex uint32) []byte {
	return tbsBytes(func(c coder) {
		l.codeContent(c)
		switch l.Source {
		case LeafSourceUpdate, LeafSourceCommit:
			c.bytes(&groupID)
			c.u32(&leafIndex)
		}
	})
}
