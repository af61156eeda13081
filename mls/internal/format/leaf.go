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

// MarshalMLS implements codec.Marshaler.
func (c *Credential) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(c.Type))
	switch c.Type {
	case CredentialBasic:
		w.VarBytes(c.Identity)
	case CredentialX509:
		w.Vector(func(w *codec.Writer) {
			for _, cert := range c.Certificates {
				w.VarBytes(cert)
			}
		})
	default:
		errEncode(w, "Credential", "unknown credential type")
	}
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *Credential) UnmarshalMLS(r *codec.Reader) {
	*c = Credential{Type: CredentialType(r.Uint16())}
	if r.Err() != nil {
		return
	}
	switch c.Type {
	case CredentialBasic:
		c.Identity = r.VarBytes()
	case CredentialX509:
		c.Certificates = [][]byte{}
		r.ReadVector(func(r *codec.Reader) { c.Certificates = append(c.Certificates, r.VarBytes()) })
	default:
		// RFC 9420 §5.3: the select has no length prefix for other types.
		errEnum(r, "Credential", uint64(c.Type))
	}
}

// Capabilities lists what a client supports (RFC 9420 §7.2). Unknown values
// (including GREASE, §13.5) are carried.
type Capabilities struct {
	Versions     []ProtocolVersion
	CipherSuites []CipherSuite
	Extensions   []ExtensionType
	Proposals    []ProposalType
	Credentials  []CredentialType
}

// MarshalMLS implements codec.Marshaler.
func (c *Capabilities) MarshalMLS(w *codec.Writer) {
	writeUint16s(w, c.Versions)
	writeUint16s(w, c.CipherSuites)
	writeUint16s(w, c.Extensions)
	writeUint16s(w, c.Proposals)
	writeUint16s(w, c.Credentials)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *Capabilities) UnmarshalMLS(r *codec.Reader) {
	c.Versions = readUint16s[ProtocolVersion](r)
	c.CipherSuites = readUint16s[CipherSuite](r)
	c.Extensions = readUint16s[ExtensionType](r)
	c.Proposals = readUint16s[ProposalType](r)
	c.Credentials = readUint16s[CredentialType](r)
}

// Lifetime is the validity window of a KeyPackage leaf, in seconds since
// the Unix epoch (RFC 9420 §7.2).
type Lifetime struct {
	NotBefore, NotAfter uint64
}

// MarshalMLS implements codec.Marshaler.
func (l *Lifetime) MarshalMLS(w *codec.Writer) {
	w.Uint64(l.NotBefore)
	w.Uint64(l.NotAfter)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (l *Lifetime) UnmarshalMLS(r *codec.Reader) {
	l.NotBefore = r.Uint64()
	l.NotAfter = r.Uint64()
}

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

// marshalContent writes every field before the LeafNodeTBS-specific tail.
func (l *LeafNode) marshalContent(w *codec.Writer) {
	w.VarBytes(l.EncryptionKey)
	w.VarBytes(l.SignatureKey)
	l.Credential.MarshalMLS(w)
	l.Capabilities.MarshalMLS(w)
	w.Uint8(uint8(l.Source))
	switch l.Source {
	case LeafSourceKeyPackage:
		l.Lifetime.MarshalMLS(w)
	case LeafSourceUpdate:
	case LeafSourceCommit:
		w.VarBytes(l.ParentHash)
	default:
		errEncode(w, "LeafNode", "unknown leaf node source")
	}
	writeStructs(w, l.Extensions)
}

// MarshalMLS implements codec.Marshaler.
func (l *LeafNode) MarshalMLS(w *codec.Writer) {
	l.marshalContent(w)
	w.VarBytes(l.Signature)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (l *LeafNode) UnmarshalMLS(r *codec.Reader) {
	*l = LeafNode{}
	l.EncryptionKey = r.VarBytes()
	l.SignatureKey = r.VarBytes()
	l.Credential.UnmarshalMLS(r)
	l.Capabilities.UnmarshalMLS(r)
	l.Source = LeafNodeSource(r.Uint8())
	if r.Err() != nil {
		return
	}
	switch l.Source {
	case LeafSourceKeyPackage:
		l.Lifetime.UnmarshalMLS(r)
	case LeafSourceUpdate:
	case LeafSourceCommit:
		l.ParentHash = r.VarBytes()
	default:
		// RFC 9420 §7.2: the select cannot be parsed for other sources.
		errEnum(r, "LeafNode source", uint64(l.Source))
		return
	}
	l.Extensions = readExtensions(r)
	l.Signature = r.VarBytes()
}

// TBS returns the LeafNodeTBS encoding that Signature covers, to be used
// with SignWithLabel(., "LeafNodeTBS", .) (RFC 9420 §7.2). groupID and
// leafIndex are included only for the update and commit sources. It returns
// nil if the leaf cannot be encoded (unknown source or oversized field).
func (l *LeafNode) TBS(groupID []byte, leafIndex uint32) []byte {
	b, err := marshalFunc(func(w *codec.Writer) {
		l.marshalContent(w)
		switch l.Source {
		case LeafSourceUpdate, LeafSourceCommit:
			w.VarBytes(groupID)
			w.Uint32(leafIndex)
		}
	})
	if err != nil {
		return nil
	}
	return b
}
