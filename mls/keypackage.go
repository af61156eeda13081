package mls

import (
	"bytes"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

// Identity is a member's signature key pair and basic credential
// (RFC 9420 §5.3). SignaturePrivateKey is secret.
type Identity struct {
	CipherSuite         CipherSuite
	SignaturePrivateKey []byte
	SignaturePublicKey  []byte
	// Name is the identity of the basic credential.
	Name []byte
}

// NewIdentity makes a fresh signature key pair for name with cfg's suite.
func NewIdentity(cfg Config, name []byte) (*Identity, error) {
	cs := cfg.suiteID()
	s, err := getSuite(cs)
	if err != nil {
		return nil, err
	}
	priv, pub, err := s.GenerateSignatureKey(cfg.rand())
	if err != nil {
		return nil, fmt.Errorf("mls: generating signature key: %w", err)
	}
	return &Identity{CipherSuite: cs, SignaturePrivateKey: priv, SignaturePublicKey: pub, Name: append([]byte(nil), name...)}, nil
}

// IdentityFromKey rebuilds an Identity from a stored signature private key.
func IdentityFromKey(cs CipherSuite, priv, name []byte) (*Identity, error) {
	s, err := getSuite(cs)
	if err != nil {
		return nil, err
	}
	pub, err := s.SignaturePublicKey(priv)
	if err != nil {
		return nil, fmt.Errorf("mls: loading signature key: %w", err)
	}
	return &Identity{CipherSuite: cs, SignaturePrivateKey: append([]byte(nil), priv...), SignaturePublicKey: pub, Name: append([]byte(nil), name...)}, nil
}

func (id *Identity) credential() format.Credential {
	return format.Credential{Type: format.CredentialBasic, Identity: id.Name}
}

// KeyPackageOptions tunes NewKeyPackage.
type KeyPackageOptions struct {
	// LastResort marks the KeyPackage with the last_resort extension: the
	// directory may hand it out more than once.
	LastResort bool
	// ApplicationID, if set, goes into the leaf's application_id extension
	// (RFC 9420 §5.3.3).
	ApplicationID []byte
}

// KeyPackageBundle is a KeyPackage and the private keys that its owner
// keeps until it is used (RFC 9420 §10). InitPrivateKey and
// EncryptionPrivateKey are secret.
type KeyPackageBundle struct {
	// Message is the MLSMessage(KeyPackage) to publish.
	Message []byte
	// Ref is the KeyPackageRef (RFC 9420 §5.2).
	Ref                  []byte
	InitPrivateKey       []byte
	EncryptionPrivateKey []byte
	LastResort           bool
}

// NewKeyPackage creates a signed KeyPackage for id (RFC 9420 §10).
func (id *Identity) NewKeyPackage(cfg Config, opts KeyPackageOptions) (*KeyPackageBundle, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := getSuite(id.CipherSuite)
	if err != nil {
		return nil, err
	}
	initPriv, initPub, err := s.GenerateKeyPair(cfg.rand())
	if err != nil {
		return nil, fmt.Errorf("mls: generating init key: %w", err)
	}
	encPriv, encPub, err := s.GenerateKeyPair(cfg.rand())
	if err != nil {
		return nil, fmt.Errorf("mls: generating encryption key: %w", err)
	}
	now := cfg.now()
	leaf := format.LeafNode{
		EncryptionKey: encPub,
		SignatureKey:  id.SignaturePublicKey,
		Credential:    id.credential(),
		Capabilities:  supportedCapabilities(id.CipherSuite),
		Source:        format.LeafSourceKeyPackage,
		// RFC 9420 §7.2: lifetime bounds the validity of the key package.
		Lifetime:   format.Lifetime{NotBefore: uint64(now.Add(-time.Hour).Unix()), NotAfter: uint64(now.Add(cfg.keyPackageLifetime()).Unix())},
		Extensions: []format.Extension{},
	}
	if opts.ApplicationID != nil {
		leaf.Extensions = append(leaf.Extensions, format.Extension{Type: format.ExtApplicationID, Data: codec.MustMarshal(&format.ApplicationID{ID: opts.ApplicationID})})
	}
	if leaf.Signature, err = s.SignWithLabel(id.SignaturePrivateKey, "LeafNodeTBS", leaf.TBS(nil, 0)); err != nil {
		return nil, fmt.Errorf("mls: signing leaf node: %w", err)
	}
	kp := format.KeyPackage{
		Version:     format.MLS10,
		CipherSuite: format.CipherSuite(id.CipherSuite),
		InitKey:     initPub,
		LeafNode:    leaf,
		Extensions:  []format.Extension{},
	}
	if opts.LastResort {
		kp.Extensions = append(kp.Extensions, format.Extension{Type: format.ExtLastResort, Data: []byte{}})
	}
	if kp.Signature, err = s.SignWithLabel(id.SignaturePrivateKey, "KeyPackageTBS", kp.TBS()); err != nil {
		return nil, fmt.Errorf("mls: signing key package: %w", err)
	}
	msg, err := codec.Marshal(&format.MLSMessage{Version: format.MLS10, WireFormat: format.WireKeyPackage, KeyPackage: &kp})
	if err != nil {
		return nil, fmt.Errorf("mls: encoding key package: %w", err)
	}
	ref, err := keyPackageRef(s, &kp)
	if err != nil {
		return nil, err
	}
	return &KeyPackageBundle{Message: msg, Ref: ref, InitPrivateKey: initPriv, EncryptionPrivateKey: encPriv, LastResort: opts.LastResort}, nil
}

// keyPackageRef computes MakeKeyPackageRef (RFC 9420 §5.2).
func keyPackageRef(s *suite.Suite, kp *format.KeyPackage) ([]byte, error) {
	b, err := codec.Marshal(kp)
	if err != nil {
		return nil, fmt.Errorf("mls: encoding key package: %w", err)
	}
	return s.RefHash(format.KeyPackageRefLabel, b), nil
}

// KeyPackageInfo is what ValidateKeyPackage learned about a KeyPackage.
type KeyPackageInfo struct {
	CipherSuite        CipherSuite
	Ref                []byte
	Identity           []byte
	SignaturePublicKey []byte
	LastResort         bool
	NotBefore          uint64
	NotAfter           uint64
}

// ValidateKeyPackage parses an MLSMessage(KeyPackage) or a bare KeyPackage
// and checks it as RFC 9420 §10.1 requires, with cfg's clock for the
// lifetime.
func ValidateKeyPackage(cfg Config, msg []byte) (*KeyPackageInfo, error) {
	kp, err := parseKeyPackage(msg)
	if err != nil {
		return nil, err
	}
	s, err := getSuite(CipherSuite(kp.CipherSuite))
	if err != nil {
		return nil, invalidErr("10.1", "key package cipher suite", err)
	}
	if err := validateKeyPackage(cfg, s, kp, true); err != nil {
		return nil, err
	}
	ref, err := keyPackageRef(s, kp)
	if err != nil {
		return nil, err
	}
	return &KeyPackageInfo{
		CipherSuite: CipherSuite(kp.CipherSuite), Ref: ref, Identity: kp.LeafNode.Credential.Identity,
		SignaturePublicKey: kp.LeafNode.SignatureKey, LastResort: format.FindExtension(kp.Extensions, format.ExtLastResort) != nil,
		NotBefore: kp.LeafNode.Lifetime.NotBefore, NotAfter: kp.LeafNode.Lifetime.NotAfter,
	}, nil
}

// parseKeyPackage accepts an MLSMessage(KeyPackage) or a bare KeyPackage.
func parseKeyPackage(b []byte) (*format.KeyPackage, error) {
	var m format.MLSMessage
	if err := codec.Unmarshal(b, &m); err == nil && m.WireFormat == format.WireKeyPackage {
		if m.Version != format.MLS10 {
			return nil, invalidErr("6", "unsupported protocol version", ErrUnsupported)
		}
		return m.KeyPackage, nil
	}
	var kp format.KeyPackage
	if err := codec.Unmarshal(b, &kp); err != nil {
		return nil, fmt.Errorf("mls: parsing key package: %w: %w", ErrMalformed, err)
	}
	return &kp, nil
}

// validateKeyPackage runs the checks of RFC 9420 §10.1. checkLifetime is
// false for key packages of past epochs replayed from vectors.
func validateKeyPackage(cfg Config, s *suite.Suite, kp *format.KeyPackage, checkLifetime bool) error {
	// RFC 9420 §10.1: version and cipher suite match the group's; the
	// caller compares the suite, here the version.
	if kp.Version != format.MLS10 {
		return invalid("10.1", "key package protocol version is not mls10")
	}
	if uint16(kp.CipherSuite) != uint16(s.ID()) {
		return invalid("10.1", "key package cipher suite does not match")
	}
	// RFC 9420 §10.1: the signature verifies with the leaf's signature key.
	if err := s.VerifyWithLabel(kp.LeafNode.SignatureKey, "KeyPackageTBS", kp.TBS(), kp.Signature); err != nil {
		return invalidErr("10.1", "key package signature", ErrBadSignature)
	}
	// RFC 9420 §10.1: leaf_node.leaf_node_source is key_package.
	if kp.LeafNode.Source != format.LeafSourceKeyPackage {
		return invalid("10.1", "key package leaf source is not key_package")
	}
	// RFC 9420 §10.1: init_key differs from the leaf encryption_key.
	if bytes.Equal(kp.InitKey, kp.LeafNode.EncryptionKey) {
		return invalid("10.1", "init_key equals the leaf encryption_key")
	}
	if err := s.CheckHPKEPublicKey(kp.InitKey); err != nil {
		return invalid("10.1", "init_key is not a valid public key")
	}
	// RFC 9420 §13.4: no duplicate extensions.
	if format.HasDuplicateExtensions(kp.Extensions) {
		return invalid("13.4", "duplicate key package extensions")
	}
	// RFC 9420 §7.3 leaf node validation (lifetime included).
	var now time.Time
	if checkLifetime {
		now = cfg.now()
	}
	return validateKeyPackageLeaf(s, &kp.LeafNode, now)
}
