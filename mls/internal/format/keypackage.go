package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// KeyPackage is a client's pre-published joining material (RFC 9420 §10).
type KeyPackage struct {
	Version     ProtocolVersion
	CipherSuite CipherSuite
	InitKey     []byte // HPKEPublicKey
	LeafNode    LeafNode
	Extensions  []Extension
	Signature   []byte
}

// codeTBS codes the fields of KeyPackageTBS, all but the signature.
func (k *KeyPackage) codeTBS(c coder) {
	c.u16((*uint16)(&k.Version))
	c.u16((*uint16)(&k.CipherSuite))
	c.bytes(&k.InitKey)
	k.LeafNode.code(c)
	codeExtensions(c, &k.Extensions)
}

func (k *KeyPackage) code(c coder) {
	k.codeTBS(c)
	c.bytes(&k.Signature)
}

// MarshalMLS implements codec.Marshaler.
func (k *KeyPackage) MarshalMLS(w *codec.Writer) { k.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (k *KeyPackage) UnmarshalMLS(r *codec.Reader) { k.code(coder{r: r}) }

// TBS returns the KeyPackageTBS encoding that Signature covers, to be used
// with SignWithLabel(., "KeyPackageTBS", .) (RFC 9420 §10). It returns nil
// if the key package cannot be encoded.
func (k *KeyPackage) TBS() []byte {
	return tbsBytes(k.codeTBS)
}

// Labels of RefHash (RFC 9420 §5.2).
const (
	KeyPackageRefLabel = "MLS 1.0 KeyPackage Reference"
	ProposalRefLabel   = "MLS 1.0 Proposal Reference"
)

// RefHashInput returns the encoding of RefHashInput{label, value} that
// RefHash(label, value) hashes (RFC 9420 §5.2).
func RefHashInput(label string, value []byte) ([]byte, error) {
	return marshalFunc(func(w *codec.Writer) {
		w.VarBytes([]byte(label))
		w.VarBytes(value)
	})
}

// KeyPackageRefInput returns the bytes hashed into this key package's
// KeyPackageRef: RefHashInput with KeyPackageRefLabel and the encoded
// KeyPackage (RFC 9420 §5.2).
func (k *KeyPackage) KeyPackageRefInput() ([]byte, error) {
	kp, err := codec.Marshal(k)
	if err != nil {
		return nil, err
	}
	return RefHashInput(KeyPackageRefLabel, kp)
}

// ProposalRefInput returns the bytes hashed into the ProposalRef of the
// proposal carried by ac: RefHashInput with ProposalRefLabel and the
// encoded AuthenticatedContent (RFC 9420 §5.2).
func (ac *AuthenticatedContent) ProposalRefInput() ([]byte, error) {
	b, err := codec.Marshal(ac)
	if err != nil {
		return nil, err
	}
	return RefHashInput(ProposalRefLabel, b)
}
