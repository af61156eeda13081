package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// Extension is a typed opaque extension (RFC 9420 §13). Unknown types are
// carried: their data is length-prefixed.
type Extension struct {
	Type ExtensionType
	Data []byte
}

// MarshalMLS implements codec.Marshaler.
func (e *Extension) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(e.Type))
	w.VarBytes(e.Data)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (e *Extension) UnmarshalMLS(r *codec.Reader) {
	e.Type = ExtensionType(r.Uint16())
	e.Data = r.VarBytes()
}

// readExtensions decodes Extension extensions<V>. Duplicate types are not
// rejected here (the encoding is still well formed); callers validate with
// HasDuplicateExtensions (RFC 9420 §13.4).
func readExtensions(r *codec.Reader) []Extension {
	return readStructs[Extension](r)
}

// Extensions is a list of extensions with codec methods, for use where a
// bare extensions<V> vector is encoded on its own.
type Extensions []Extension

// MarshalMLS implements codec.Marshaler.
func (e *Extensions) MarshalMLS(w *codec.Writer) { writeStructs(w, *e) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *Extensions) UnmarshalMLS(r *codec.Reader) { *e = readExtensions(r) }

// FindExtension returns the first extension of type t in exts, or nil.
func FindExtension(exts []Extension, t ExtensionType) *Extension {
	for i := range exts {
		if exts[i].Type == t {
			return &exts[i]
		}
	}
	return nil
}

// HasDuplicateExtensions reports whether two extensions in exts share a
// type, which every extension list must not do (RFC 9420 §13.4: "the
// extensions field ... MUST NOT contain more than one extension of any
// given ExtensionType").
func HasDuplicateExtensions(exts []Extension) bool {
	seen := make(map[ExtensionType]struct{}, len(exts))
	for _, e := range exts {
		if _, ok := seen[e.Type]; ok {
			return true
		}
		seen[e.Type] = struct{}{}
	}
	return false
}

// ApplicationID is the extension_data of application_id (RFC 9420 §5.3.3).
type ApplicationID struct {
	ID []byte
}

// MarshalMLS implements codec.Marshaler.
func (a *ApplicationID) MarshalMLS(w *codec.Writer) { w.VarBytes(a.ID) }

// UnmarshalMLS implements codec.Unmarshaler.
func (a *ApplicationID) UnmarshalMLS(r *codec.Reader) { a.ID = r.VarBytes() }

// ExternalPub is the extension_data of external_pub (RFC 9420 §12.4.3.2).
type ExternalPub struct {
	PublicKey []byte // HPKEPublicKey
}

// MarshalMLS implements codec.Marshaler.
func (e *ExternalPub) MarshalMLS(w *codec.Writer) { w.VarBytes(e.PublicKey) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *ExternalPub) UnmarshalMLS(r *codec.Reader) { e.PublicKey = r.VarBytes() }

// ExternalSender is one entry of the external_senders extension (RFC 9420
// §12.1.8.1).
type ExternalSender struct {
	SignatureKey []byte // SignaturePublicKey
	Credential   Credential
}

// MarshalMLS implements codec.Marshaler.
func (e *ExternalSender) MarshalMLS(w *codec.Writer) {
	w.VarBytes(e.SignatureKey)
	e.Credential.MarshalMLS(w)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (e *ExternalSender) UnmarshalMLS(r *codec.Reader) {
	e.SignatureKey = r.VarBytes()
	e.Credential.UnmarshalMLS(r)
}

// ExternalSenders is the extension_data of external_senders,
// ExternalSender external_senders<V> (RFC 9420 §12.1.8.1).
type ExternalSenders []ExternalSender

// MarshalMLS implements codec.Marshaler.
func (s *ExternalSenders) MarshalMLS(w *codec.Writer) {
	writeStructs(w, *s)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (s *ExternalSenders) UnmarshalMLS(r *codec.Reader) {
	*s = readStructs[ExternalSender](r)
}

// RequiredCapabilities is the extension_data of required_capabilities
// (RFC 9420 §11.1).
type RequiredCapabilities struct {
	Extensions  []ExtensionType
	Proposals   []ProposalType
	Credentials []CredentialType
}

// MarshalMLS implements codec.Marshaler.
func (c *RequiredCapabilities) MarshalMLS(w *codec.Writer) {
	writeUint16s(w, c.Extensions)
	writeUint16s(w, c.Proposals)
	writeUint16s(w, c.Credentials)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *RequiredCapabilities) UnmarshalMLS(r *codec.Reader) {
	c.Extensions = readUint16s[ExtensionType](r)
	c.Proposals = readUint16s[ProposalType](r)
	c.Credentials = readUint16s[CredentialType](r)
}
