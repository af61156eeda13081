package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// Extension is a typed opaque extension (RFC 9420 §13). Unknown types are
// carried: their data is length-prefixed.
type Extension struct {
	Type ExtensionType
	Data []byte
}

func (e *Extension) code(c coder) {
	c.u16((*uint16)(&e.Type))
	c.bytes(&e.Data)
}

// MarshalMLS implements codec.Marshaler.
func (e *Extension) MarshalMLS(w *codec.Writer) { e.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *Extension) UnmarshalMLS(r *codec.Reader) { e.code(coder{r: r}) }

// codeExtensions codes Extension extensions<V>. Duplicate types are not
// rejected here (the encoding is still well formed); callers validate with
// HasDuplicateExtensions (RFC 9420 §13.4).
func codeExtensions(c coder, exts *[]Extension) { codeStructs(c, exts) }

// Extensions is a list of extensions with codec methods, for use where a
// bare extensions<V> vector is encoded on its own.
type Extensions []Extension

func (e *Extensions) code(c coder) { codeExtensions(c, (*[]Extension)(e)) }

// MarshalMLS implements codec.Marshaler.
func (e *Extensions) MarshalMLS(w *codec.Writer) { e.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *Extensions) UnmarshalMLS(r *codec.Reader) { e.code(coder{r: r}) }

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

func (a *ApplicationID) code(c coder) { c.bytes(&a.ID) }

// MarshalMLS implements codec.Marshaler.
func (a *ApplicationID) MarshalMLS(w *codec.Writer) { a.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (a *ApplicationID) UnmarshalMLS(r *codec.Reader) { a.code(coder{r: r}) }

// ExternalPub is the extension_data of external_pub (RFC 9420 §12.4.3.2).
type ExternalPub struct {
	PublicKey []byte // HPKEPublicKey
}

func (e *ExternalPub) code(c coder) { c.bytes(&e.PublicKey) }

// MarshalMLS implements codec.Marshaler.
func (e *ExternalPub) MarshalMLS(w *codec.Writer) { e.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *ExternalPub) UnmarshalMLS(r *codec.Reader) { e.code(coder{r: r}) }

// ExternalSender is one entry of the external_senders extension (RFC 9420
// §12.1.8.1).
type ExternalSender struct {
	SignatureKey []byte // SignaturePublicKey
	Credential   Credential
}

func (e *ExternalSender) code(c coder) {
	c.bytes(&e.SignatureKey)
	e.Credential.code(c)
}

// MarshalMLS implements codec.Marshaler.
func (e *ExternalSender) MarshalMLS(w *codec.Writer) { e.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (e *ExternalSender) UnmarshalMLS(r *codec.Reader) { e.code(coder{r: r}) }

// ExternalSenders is the extension_data of external_senders,
// ExternalSender external_senders<V> (RFC 9420 §12.1.8.1).
type ExternalSenders []ExternalSender

func (s *ExternalSenders) code(c coder) { codeStructs(c, (*[]ExternalSender)(s)) }

// MarshalMLS implements codec.Marshaler.
func (s *ExternalSenders) MarshalMLS(w *codec.Writer) { s.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (s *ExternalSenders) UnmarshalMLS(r *codec.Reader) { s.code(coder{r: r}) }

// RequiredCapabilities is the extension_data of required_capabilities
// (RFC 9420 §11.1).
type RequiredCapabilities struct {
	Extensions  []ExtensionType
	Proposals   []ProposalType
	Credentials []CredentialType
}

func (rc *RequiredCapabilities) code(c coder) {
	codeUint16s(c, &rc.Extensions)
	codeUint16s(c, &rc.Proposals)
	codeUint16s(c, &rc.Credentials)
}

// MarshalMLS implements codec.Marshaler.
func (rc *RequiredCapabilities) MarshalMLS(w *codec.Writer) { rc.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (rc *RequiredCapabilities) UnmarshalMLS(r *codec.Reader) { rc.code(coder{r: r}) }
