// Package suite implements the cryptographic operations of the MLS cipher
// suites (RFC 9420 §5.1): hashing, the labelled KDF functions, MAC, AEAD,
// labelled HPKE encryption and labelled signatures, for suites 1 to 7 and
// samizdat's hybrid post-quantum suite.
//
// Keys cross this package's boundary as bytes in the encodings that MLS puts
// on the wire: HPKE keys as SerializePublicKey/SerializePrivateKey (RFC 9180
// §7.1), Ed25519/Ed448 private keys as seeds, ECDSA private keys as
// big-endian scalars and public keys as uncompressed points.
package suite

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

// ID is an MLS cipher suite code point (RFC 9420 §17.1).
type ID uint16

// The cipher suites of RFC 9420 §17.1.
const (
	X25519AES128GCMSHA256Ed25519        ID = 0x0001
	P256AES128GCMSHA256P256             ID = 0x0002
	X25519ChaCha20Poly1305SHA256Ed25519 ID = 0x0003
	X448AES256GCMSHA512Ed448            ID = 0x0004
	P521AES256GCMSHA512P521             ID = 0x0005
	X448ChaCha20Poly1305SHA512Ed448     ID = 0x0006
	P384AES256GCMSHA384P384             ID = 0x0007
)

// ErrUnsupported is returned for a cipher suite this package does not
// implement.
var ErrUnsupported = errors.New("mls/suite: unsupported cipher suite")

// ErrMAC is returned when a MAC does not verify.
var ErrMAC = errors.New("mls/suite: MAC mismatch")

// Suite is one MLS cipher suite. It is immutable and safe for concurrent use.
type Suite struct {
	id      ID
	name    string
	newHash func() hash.Hash
	aead    aeadKind
	kem     kemScheme
	sig     signatureScheme
}

var suites = map[ID]*Suite{}

// hashKind names the suite's hash; it also fixes the HPKE KDF.
type hashKind int

const (
	sha256Kind hashKind = iota + 1
	sha384Kind
	sha512Kind
)

func newSuite(id ID, name string, h hashKind, a aeadKind, kemID uint16, sig signatureScheme) *Suite {
	s := &Suite{id: id, name: name, aead: a, sig: sig}
	switch h {
	case sha256Kind:
		s.newHash = sha256.New
	case sha384Kind:
		s.newHash = sha512.New384
	default:
		s.newHash = sha512.New
	}
	if kemID == kemX448 {
		s.kem = newCirclX448(h, a)
	} else {
		s.kem = newStdScheme(kemID, h, a)
	}
	return s
}

func init() {
	for _, s := range []*Suite{
		newSuite(X25519AES128GCMSHA256Ed25519, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", sha256Kind, aes128GCM, kemX25519, ed25519Scheme),
		newSuite(P256AES128GCMSHA256P256, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", sha256Kind, aes128GCM, kemP256, ecdsaP256),
		newSuite(X25519ChaCha20Poly1305SHA256Ed25519, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", sha256Kind, chacha20Poly1305, kemX25519, ed25519Scheme),
		newSuite(X448AES256GCMSHA512Ed448, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", sha512Kind, aes256GCM, kemX448, ed448Scheme),
		newSuite(P521AES256GCMSHA512P521, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", sha512Kind, aes256GCM, kemP521, ecdsaP521),
		newSuite(X448ChaCha20Poly1305SHA512Ed448, "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448", sha512Kind, chacha20Poly1305, kemX448, ed448Scheme),
		newSuite(P384AES256GCMSHA384P384, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", sha384Kind, aes256GCM, kemP384, ecdsaP384),
	} {
		suites[s.id] = s
	}
	for _, s := range postQuantumSuites() {
		suites[s.id] = s
	}
}

// Get returns the suite with code point id.
func Get(id ID) (*Suite, error) {
	s, ok := suites[id]
	if !ok {
		return nil, fmt.Errorf("%w: 0x%04x", ErrUnsupported, uint16(id))
	}
	return s, nil
}

// IDs returns every supported suite code point.
func IDs() []ID {
	out := make([]ID, 0, len(suites))
	for id := range suites {
		out = append(out, id)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ID returns the suite's code point.
func (s *Suite) ID() ID { return s.id }

// Name returns the suite's IANA name.
func (s *Suite) Name() string { return s.name }

// HashLen returns Nh, the output size of the suite's hash (and KDF.Nh).
func (s *Suite) HashLen() int { return s.newHash().Size() }

// Hash returns the suite's hash of data.
func (s *Suite) Hash(data []byte) []byte {
	h := s.newHash()
	h.Write(data)
	return h.Sum(nil)
}

// Extract is HKDF-Extract with the suite's hash.
func (s *Suite) Extract(salt, ikm []byte) []byte {
	prk, err := hkdf.Extract(s.newHash, ikm, salt)
	if err != nil {
		panic("mls/suite: hkdf extract: " + err.Error()) // only fails in FIPS mode on short keys
	}
	return prk
}

// Expand is HKDF-Expand with the suite's hash.
func (s *Suite) Expand(prk, info []byte, length int) []byte {
	out, err := hkdf.Expand(s.newHash, prk, string(info), length)
	if err != nil {
		panic("mls/suite: hkdf expand: " + err.Error()) // length beyond 255*Nh: a programming error
	}
	return out
}

const labelPrefix = "MLS 1.0 "

// ExpandWithLabel implements RFC 9420 §5.1.3.
func (s *Suite) ExpandWithLabel(secret []byte, label string, context []byte, length int) []byte {
	var w codec.Writer
	w.Uint16(uint16(length))
	w.VarBytes([]byte(labelPrefix + label))
	w.VarBytes(context)
	return s.Expand(secret, codec.MustResult(&w), length)
}

// DeriveSecret implements RFC 9420 §5.1.3.
func (s *Suite) DeriveSecret(secret []byte, label string) []byte {
	return s.ExpandWithLabel(secret, label, nil, s.HashLen())
}

// DeriveTreeSecret implements RFC 9420 §9.1.
func (s *Suite) DeriveTreeSecret(secret []byte, label string, generation uint32, length int) []byte {
	ctx := []byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return s.ExpandWithLabel(secret, label, ctx, length)
}

// RefHash implements RFC 9420 §5.2. label is used as given (for example
// "MLS 1.0 KeyPackage Reference").
func (s *Suite) RefHash(label string, value []byte) []byte {
	var w codec.Writer
	w.VarBytes([]byte(label))
	w.VarBytes(value)
	return s.Hash(codec.MustResult(&w))
}

// MAC returns HMAC(key, data) with the suite's hash.
func (s *Suite) MAC(key, data []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(data)
	return m.Sum(nil)
}

// VerifyMAC checks tag against MAC(key, data) in constant time.
func (s *Suite) VerifyMAC(key, data, tag []byte) error {
	if !hmac.Equal(s.MAC(key, data), tag) {
		return ErrMAC
	}
	return nil
}

// Equal compares two secrets in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
