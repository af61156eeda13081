package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

type aeadKind int

const (
	aes128GCM aeadKind = iota + 1
	aes256GCM
	chacha20Poly1305
)

// ErrDecrypt is returned when an AEAD or HPKE ciphertext does not open.
var ErrDecrypt = errors.New("mls/suite: decryption failed")

// KeyLen returns Nk, the AEAD key size.
func (s *Suite) KeyLen() int {
	if s.aead == aes128GCM {
		return 16
	}
	return 32
}

// NonceLen returns Nn, the AEAD nonce size.
func (s *Suite) NonceLen() int { return 12 }

// AEAD returns the suite's AEAD keyed with key.
func (s *Suite) AEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != s.KeyLen() {
		return nil, fmt.Errorf("mls/suite: AEAD key of %d bytes, want %d", len(key), s.KeyLen())
	}
	if s.aead == chacha20Poly1305 {
		return chacha20poly1305.New(key)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// aeadWithNonce returns the suite's AEAD under key after checking that
// nonce has the AEAD's nonce size.
func (s *Suite) aeadWithNonce(key, nonce []byte) (cipher.AEAD, error) {
	a, err := s.AEAD(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != a.NonceSize() {
		return nil, fmt.Errorf("mls/suite: nonce of %d bytes, want %d", len(nonce), a.NonceSize())
	}
	return a, nil
}

// Seal encrypts plaintext with the suite's AEAD.
func (s *Suite) Seal(key, nonce, aad, plaintext []byte) ([]byte, error) {
	a, err := s.aeadWithNonce(key, nonce)
	if err != nil {
		return nil, err
	}
	return a.Seal(nil, nonce, plaintext, aad), nil
}

// Open decrypts ciphertext with the suite's AEAD.
func (s *Suite) Open(key, nonce, aad, ciphertext []byte) ([]byte, error) {
	a, err := s.aeadWithNonce(key, nonce)
	if err != nil {
		return nil, err
	}
	pt, err := a.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
