package suite

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"fmt"

	circlhpke "github.com/cloudflare/circl/hpke"
)

// circlX448 is the HPKE backend for DHKEM(X448, HKDF-SHA512), which the
// standard library does not provide. circl supplies the KEM and the HPKE
// context; DeriveKeyPair is done here because circl's accepts only 56-byte
// seeds while MLS derives node keys from Nh = 64-byte secrets.
type circlX448 struct {
	suite circlhpke.Suite
}

func newCirclX448(_ hashKind, a aeadKind) *circlX448 {
	aead := circlhpke.AEAD_AES256GCM
	if a == chacha20Poly1305 {
		aead = circlhpke.AEAD_ChaCha20Poly1305
	}
	return &circlX448{suite: circlhpke.NewSuite(circlhpke.KEM_X448_HKDF_SHA512, circlhpke.KDF_HKDF_SHA512, aead)}
}

func (c *circlX448) seedLen() int { return 56 }

// deriveKeyPair implements DeriveKeyPair of RFC 9180 §7.1.3 for X448:
// dkp_prk = LabeledExtract("", "dkp_prk", ikm); sk = LabeledExpand(dkp_prk,
// "sk", "", Nsk).
func (c *circlX448) deriveKeyPair(ikm []byte) ([]byte, []byte, error) {
	suiteID := []byte{'K', 'E', 'M', byte(kemX448 >> 8), byte(kemX448 & 0xff)}
	labeled := func(label string) []byte {
		return append(append([]byte("HPKE-v1"), suiteID...), label...)
	}
	prk, err := hkdf.Extract(sha512.New, append(labeled("dkp_prk"), ikm...), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: deriving X448 key: %w", err)
	}
	const nsk = 56
	info := append([]byte{0, nsk}, labeled("sk")...)
	sk, err := hkdf.Expand(sha512.New, prk, string(info), nsk)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: deriving X448 key: %w", err)
	}
	pub, err := c.publicKey(sk)
	if err != nil {
		return nil, nil, err
	}
	return sk, pub, nil
}

func (c *circlX448) publicKey(priv []byte) ([]byte, error) {
	scheme := circlhpke.KEM_X448_HKDF_SHA512.Scheme()
	sk, err := scheme.UnmarshalBinaryPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("mls/suite: parsing X448 private key: %w", err)
	}
	return sk.Public().MarshalBinary()
}

func (c *circlX448) checkPublicKey(pub []byte) error {
	if _, err := circlhpke.KEM_X448_HKDF_SHA512.Scheme().UnmarshalBinaryPublicKey(pub); err != nil {
		return fmt.Errorf("mls/suite: parsing X448 public key: %w", err)
	}
	return nil
}

func (c *circlX448) sender(pub, info []byte) (enc []byte, seal circlhpke.Sealer, err error) {
	pk, err := circlhpke.KEM_X448_HKDF_SHA512.Scheme().UnmarshalBinaryPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: parsing X448 public key: %w", err)
	}
	s, err := c.suite.NewSender(pk, info)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: HPKE setup: %w", err)
	}
	// Like the standard library's HPKE, encapsulation draws from the
	// system's secure random source.
	return s.Setup(rand.Reader)
}

func (c *circlX448) receiver(priv, enc, info []byte) (circlhpke.Opener, error) {
	sk, err := circlhpke.KEM_X448_HKDF_SHA512.Scheme().UnmarshalBinaryPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("mls/suite: parsing X448 private key: %w", err)
	}
	r, err := c.suite.NewReceiver(sk, info)
	if err != nil {
		return nil, fmt.Errorf("mls/suite: HPKE setup: %w", err)
	}
	o, err := r.Setup(enc)
	if err != nil {
		return nil, ErrDecrypt
	}
	return o, nil
}

func (c *circlX448) sealBase(pub, info, aad, pt []byte) ([]byte, []byte, error) {
	enc, sealer, err := c.sender(pub, info)
	if err != nil {
		return nil, nil, err
	}
	ct, err := sealer.Seal(pt, aad)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: HPKE seal: %w", err)
	}
	return enc, ct, nil
}

func (c *circlX448) openBase(priv, enc, info, aad, ct []byte) ([]byte, error) {
	o, err := c.receiver(priv, enc, info)
	if err != nil {
		return nil, err
	}
	pt, err := o.Open(ct, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func (c *circlX448) exportSend(pub, info []byte, label string, length int) ([]byte, []byte, error) {
	enc, sealer, err := c.sender(pub, info)
	if err != nil {
		return nil, nil, err
	}
	return enc, sealer.Export([]byte(label), uint(length)), nil
}

func (c *circlX448) exportReceive(priv, enc, info []byte, label string, length int) ([]byte, error) {
	o, err := c.receiver(priv, enc, info)
	if err != nil {
		return nil, err
	}
	return o.Export([]byte(label), uint(length)), nil
}
