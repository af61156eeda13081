package suite

import (
	"crypto/hpke"
	"crypto/sha3"
	"fmt"
	"io"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

// kemScheme is one HPKE instantiation (KEM, KDF and AEAD of the suite).
// Two backends satisfy it: the standard library's crypto/hpke and, for X448
// only, circl's hpke.
type kemScheme interface {
	// deriveKeyPair implements DeriveKeyPair (RFC 9180 §7.1.3) and returns
	// the serialized keys.
	deriveKeyPair(ikm []byte) (priv, pub []byte, err error)
	// publicKey returns the serialized public key of a serialized private key.
	publicKey(priv []byte) ([]byte, error)
	// checkPublicKey reports whether pub deserializes.
	checkPublicKey(pub []byte) error
	// seedLen is the length of the ikm read from a random source.
	seedLen() int
	// sealBase is SealBase (RFC 9180 §6.1) with the given aad.
	sealBase(pub, info, aad, plaintext []byte) (enc, ct []byte, err error)
	// openBase is OpenBase.
	openBase(priv, enc, info, aad, ct []byte) ([]byte, error)
	// exportSend is SetupBaseS followed by Export.
	exportSend(pub, info []byte, exporterContext string, length int) (enc, secret []byte, err error)
	// exportReceive is SetupBaseR followed by Export.
	exportReceive(priv, enc, info []byte, exporterContext string, length int) ([]byte, error)
}

// DeriveKeyPair derives an HPKE key pair from secret (RFC 9420 §4.1.1 and
// §7.4: node_priv, node_pub = KEM.DeriveKeyPair(node_secret)).
func (s *Suite) DeriveKeyPair(secret []byte) (priv, pub []byte, err error) {
	return s.kem.deriveKeyPair(secret)
}

// GenerateKeyPair makes a fresh HPKE key pair from rand.
func (s *Suite) GenerateKeyPair(rand io.Reader) (priv, pub []byte, err error) {
	ikm := make([]byte, s.kem.seedLen())
	if _, err := io.ReadFull(rand, ikm); err != nil {
		return nil, nil, fmt.Errorf("mls/suite: reading randomness: %w", err)
	}
	return s.kem.deriveKeyPair(ikm)
}

// HPKEPublicKey returns the public key that belongs to an HPKE private key.
func (s *Suite) HPKEPublicKey(priv []byte) ([]byte, error) { return s.kem.publicKey(priv) }

// CheckHPKEPublicKey reports whether pub is a valid public key of the suite's
// KEM.
func (s *Suite) CheckHPKEPublicKey(pub []byte) error { return s.kem.checkPublicKey(pub) }

func encryptContext(label string, context []byte) []byte {
	var w codec.Writer
	w.VarBytes([]byte(labelPrefix + label))
	w.VarBytes(context)
	return codec.MustResult(&w)
}

// EncryptWithLabel implements RFC 9420 §5.1.3.
func (s *Suite) EncryptWithLabel(pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	return s.kem.sealBase(pub, encryptContext(label, context), nil, plaintext)
}

// DecryptWithLabel implements RFC 9420 §5.1.3.
func (s *Suite) DecryptWithLabel(priv []byte, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	return s.kem.openBase(priv, kemOutput, encryptContext(label, context), nil, ciphertext)
}

// externalInitLabel is the exporter label of RFC 9420 §8.3.
const externalInitLabel = "MLS 1.0 external init secret"

// ExternalInitSend implements the joiner's side of RFC 9420 §8.3:
// kem_output, context = SetupBaseS(external_pub, ""), init_secret =
// context.export("MLS 1.0 external init secret", KDF.Nh).
func (s *Suite) ExternalInitSend(externalPub []byte) (kemOutput, initSecret []byte, err error) {
	return s.kem.exportSend(externalPub, nil, externalInitLabel, s.HashLen())
}

// ExternalInitReceive implements the members' side of RFC 9420 §8.3.
func (s *Suite) ExternalInitReceive(externalPriv, kemOutput []byte) ([]byte, error) {
	return s.kem.exportReceive(externalPriv, kemOutput, nil, externalInitLabel, s.HashLen())
}

// stdScheme is the standard library backend.
type stdScheme struct {
	kem  hpke.KEM
	kdf  hpke.KDF
	aead hpke.AEAD
	seed int
	// shakeSeed makes DeriveKeyPair NewPrivateKey(SHAKE256(ikm, 32)), the
	// X-Wing draft's own derivation, instead of the labelled one of
	// draft-ietf-hpke-pq that crypto/hpke implements. Only ts-mls's suite 83
	// uses it; see docs/spec/mls-suites.md.
	shakeSeed bool
}

const (
	kemP256   = 0x0010
	kemP384   = 0x0011
	kemP521   = 0x0012
	kemX25519 = 0x0020
	kemX448   = 0x0021
	kemXWing  = 0x647a
)

func newStdScheme(kemID uint16, h hashKind, a aeadKind) *stdScheme {
	k, err := hpke.NewKEM(kemID)
	if err != nil {
		panic(fmt.Sprintf("mls/suite: KEM 0x%04x: %v", kemID, err))
	}
	s := &stdScheme{kem: k, seed: seedLenOf(kemID)}
	switch h {
	case sha256Kind:
		s.kdf = hpke.HKDFSHA256()
	case sha384Kind:
		s.kdf = hpke.HKDFSHA384()
	default:
		s.kdf = hpke.HKDFSHA512()
	}
	switch a {
	case aes128GCM:
		s.aead = hpke.AES128GCM()
	case aes256GCM:
		s.aead = hpke.AES256GCM()
	default:
		s.aead = hpke.ChaCha20Poly1305()
	}
	return s
}

// seedLenOf returns Nsk of the KEM (RFC 9180 §7.1), the ikm length we
// draw when generating a fresh key pair.
func seedLenOf(kemID uint16) int {
	switch kemID {
	case kemP384:
		return 48
	case kemP521:
		return 66
	case kemX448:
		return 56
	default:
		return 32
	}
}

func (s *stdScheme) seedLen() int { return s.seed }

func (s *stdScheme) deriveKeyPair(ikm []byte) ([]byte, []byte, error) {
	var k hpke.PrivateKey
	var err error
	if s.shakeSeed {
		seed := sha3.SumSHAKE256(ikm, 32)
		k, err = s.kem.NewPrivateKey(seed)
	} else {
		k, err = s.kem.DeriveKeyPair(ikm)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: deriving key pair: %w", err)
	}
	priv, err := k.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: serializing private key: %w", err)
	}
	return priv, k.PublicKey().Bytes(), nil
}

// privateKey parses a serialized private key. A NIST-curve scalar stored
// without its leading zero bytes (as some implementations and one P-521
// test vector do) is left-padded to Nsk first (RFC 9180 §7.1.2).
func (s *stdScheme) privateKey(priv []byte) (hpke.PrivateKey, error) {
	switch id := s.kem.ID(); id {
	case kemP256, kemP384, kemP521:
		if n := seedLenOf(id); len(priv) > 0 && len(priv) < n {
			priv = append(make([]byte, n-len(priv)), priv...)
		}
	}
	return s.kem.NewPrivateKey(priv)
}

func (s *stdScheme) publicKey(priv []byte) ([]byte, error) {
	k, err := s.privateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("mls/suite: parsing HPKE private key: %w", err)
	}
	return k.PublicKey().Bytes(), nil
}

func (s *stdScheme) checkPublicKey(pub []byte) error {
	if _, err := s.kem.NewPublicKey(pub); err != nil {
		return fmt.Errorf("mls/suite: parsing HPKE public key: %w", err)
	}
	return nil
}

// sender sets up an HPKE base-mode sender to pub (RFC 9180 §5.1.1).
func (s *stdScheme) sender(pub, info []byte) ([]byte, *hpke.Sender, error) {
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: parsing HPKE public key: %w", err)
	}
	enc, snd, err := hpke.NewSender(pk, s.kdf, s.aead, info)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: HPKE setup: %w", err)
	}
	return enc, snd, nil
}

func (s *stdScheme) sealBase(pub, info, aad, pt []byte) ([]byte, []byte, error) {
	enc, snd, err := s.sender(pub, info)
	if err != nil {
		return nil, nil, err
	}
	ct, err := snd.Seal(aad, pt)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: HPKE seal: %w", err)
	}
	return enc, ct, nil
}

func (s *stdScheme) recipient(priv, enc, info []byte) (*hpke.Recipient, error) {
	k, err := s.privateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("mls/suite: parsing HPKE private key: %w", err)
	}
	r, err := hpke.NewRecipient(enc, k, s.kdf, s.aead, info)
	if err != nil {
		return nil, fmt.Errorf("mls/suite: HPKE setup: %w", ErrDecrypt)
	}
	return r, nil
}

func (s *stdScheme) openBase(priv, enc, info, aad, ct []byte) ([]byte, error) {
	r, err := s.recipient(priv, enc, info)
	if err != nil {
		return nil, err
	}
	pt, err := r.Open(aad, ct)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func (s *stdScheme) exportSend(pub, info []byte, label string, length int) ([]byte, []byte, error) {
	enc, snd, err := s.sender(pub, info)
	if err != nil {
		return nil, nil, err
	}
	secret, err := snd.Export(label, length)
	return enc, secret, err
}

func (s *stdScheme) exportReceive(priv, enc, info []byte, label string, length int) ([]byte, error) {
	r, err := s.recipient(priv, enc, info)
	if err != nil {
		return nil, err
	}
	return r.Export(label, length)
}
