package suite

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

// ErrSignature is returned when a signature does not verify.
var ErrSignature = errors.New("mls/suite: invalid signature")

// signatureScheme is the suite's signature algorithm (RFC 9420 §5.1.2).
type signatureScheme interface {
	generate(rand io.Reader) (priv, pub []byte, err error)
	public(priv []byte) ([]byte, error)
	sign(priv, msg []byte) ([]byte, error)
	verify(pub, msg, sig []byte) bool
}

// GenerateSignatureKey makes a signature key pair from rand.
func (s *Suite) GenerateSignatureKey(rand io.Reader) (priv, pub []byte, err error) {
	return s.sig.generate(rand)
}

// SignaturePublicKey returns the public key of a signature private key.
func (s *Suite) SignaturePublicKey(priv []byte) ([]byte, error) { return s.sig.public(priv) }

func signContent(label string, content []byte) []byte {
	var w codec.Writer
	w.VarBytes([]byte(labelPrefix + label))
	w.VarBytes(content)
	return codec.MustResult(&w)
}

// SignWithLabel implements RFC 9420 §5.1.2.
func (s *Suite) SignWithLabel(priv []byte, label string, content []byte) ([]byte, error) {
	return s.sig.sign(priv, signContent(label, content))
}

// VerifyWithLabel implements RFC 9420 §5.1.2; it returns ErrSignature when
// the signature is wrong or the key malformed.
func (s *Suite) VerifyWithLabel(pub []byte, label string, content, sig []byte) error {
	if !s.sig.verify(pub, signContent(label, content), sig) {
		return ErrSignature
	}
	return nil
}

// eddsaScheme is an EdDSA signature scheme (Ed25519, Ed448): the
// private key is the seed.
type eddsaScheme struct {
	name              string
	seedSize, pubSize int
	publicOf          func(seed []byte) []byte
	signWith          func(seed, msg []byte) []byte
	verifyWith        func(pub, msg, sig []byte) bool
}

var (
	ed25519Scheme = eddsaScheme{
		name: "Ed25519", seedSize: ed25519.SeedSize, pubSize: ed25519.PublicKeySize,
		publicOf:   func(seed []byte) []byte { return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey) },
		signWith:   func(seed, msg []byte) []byte { return ed25519.Sign(ed25519.NewKeyFromSeed(seed), msg) },
		verifyWith: func(pub, msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) },
	}
	ed448Scheme = eddsaScheme{
		name: "Ed448", seedSize: ed448.SeedSize, pubSize: ed448.PublicKeySize,
		publicOf:   func(seed []byte) []byte { return ed448.NewKeyFromSeed(seed).Public().(ed448.PublicKey) },
		signWith:   func(seed, msg []byte) []byte { return ed448.Sign(ed448.NewKeyFromSeed(seed), msg, "") },
		verifyWith: func(pub, msg, sig []byte) bool { return ed448.Verify(ed448.PublicKey(pub), msg, sig, "") },
	}
)

func (e eddsaScheme) generate(r io.Reader) ([]byte, []byte, error) {
	seed := make([]byte, e.seedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, nil, fmt.Errorf("mls/suite: reading randomness: %w", err)
	}
	return seed, e.publicOf(seed), nil
}

func (e eddsaScheme) public(priv []byte) ([]byte, error) {
	if len(priv) != e.seedSize {
		return nil, fmt.Errorf("mls/suite: %s private key of wrong size", e.name)
	}
	return e.publicOf(priv), nil
}

func (e eddsaScheme) sign(priv, msg []byte) ([]byte, error) {
	if len(priv) != e.seedSize {
		return nil, fmt.Errorf("mls/suite: %s private key of wrong size", e.name)
	}
	return e.signWith(priv, msg), nil
}

func (e eddsaScheme) verify(pub, msg, sig []byte) bool {
	return len(pub) == e.pubSize && e.verifyWith(pub, msg, sig)
}

// ecdsaScheme signs with ECDSA over the hash named by the signature scheme
// (ecdsa_secp256r1_sha256 and so on); signatures are DER-encoded.
type ecdsaScheme struct {
	curve   elliptic.Curve
	newHash func() hash.Hash
}

var (
	ecdsaP256 = ecdsaScheme{elliptic.P256(), sha256.New}
	ecdsaP384 = ecdsaScheme{elliptic.P384(), sha512.New384}
	ecdsaP521 = ecdsaScheme{elliptic.P521(), sha512.New}
)

func (e ecdsaScheme) digest(msg []byte) []byte {
	h := e.newHash()
	h.Write(msg)
	return h.Sum(nil)
}

// generate draws scalars from r until one is in range, so that the key is
// a deterministic function of r.
func (e ecdsaScheme) generate(r io.Reader) ([]byte, []byte, error) {
	size := (e.curve.Params().BitSize + 7) / 8
	for range 64 {
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, fmt.Errorf("mls/suite: reading randomness: %w", err)
		}
		if e.curve.Params().BitSize%8 != 0 {
			b[0] &= byte(1<<(e.curve.Params().BitSize%8)) - 1
		}
		k, err := ecdsa.ParseRawPrivateKey(e.curve, b)
		if err != nil {
			continue
		}
		pub, err := k.PublicKey.Bytes()
		if err != nil {
			return nil, nil, err
		}
		return b, pub, nil
	}
	return nil, nil, errors.New("mls/suite: random source yields no valid ECDSA scalar")
}

// parse reads a big-endian scalar; a shorter encoding (some implementations
// drop leading zero bytes, as one P-521 test vector does) is left-padded.
func (e ecdsaScheme) parse(priv []byte) (*ecdsa.PrivateKey, error) {
	size := (e.curve.Params().BitSize + 7) / 8
	if len(priv) < size && len(priv) > 0 {
		priv = append(make([]byte, size-len(priv)), priv...)
	}
	return ecdsa.ParseRawPrivateKey(e.curve, priv)
}

func (e ecdsaScheme) public(priv []byte) ([]byte, error) {
	k, err := e.parse(priv)
	if err != nil {
		return nil, fmt.Errorf("mls/suite: parsing ECDSA private key: %w", err)
	}
	return k.PublicKey.Bytes()
}

func (e ecdsaScheme) sign(priv, msg []byte) ([]byte, error) {
	k, err := e.parse(priv)
	if err != nil {
		return nil, fmt.Errorf("mls/suite: parsing ECDSA private key: %w", err)
	}
	return ecdsa.SignASN1(rand.Reader, k, e.digest(msg))
}

func (e ecdsaScheme) verify(pub, msg, sig []byte) bool {
	k, err := ecdsa.ParseUncompressedPublicKey(e.curve, pub)
	if err != nil {
		return false
	}
	return ecdsa.VerifyASN1(k, e.digest(msg), sig)
}
