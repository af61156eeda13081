package securechan

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// incomparable makes a struct that embeds it impossible to compare with ==,
// so secret keys are never compared in variable time by accident.
type incomparable [0]func()

// ServerPublic is the server's static X25519 public key. Clients pin it; it
// travels in server links in its text form (see String).
type ServerPublic [32]byte

// serverPublicPrefix starts the text form of a ServerPublic, so a pasted key
// says what it is.
const serverPublicPrefix = "sc1"

// String returns the text form of the key for links: "sc1" followed by the
// 32 bytes in unpadded base64url (46 characters in all).
func (p ServerPublic) String() string {
	return serverPublicPrefix + base64.RawURLEncoding.EncodeToString(p[:])
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (p ServerPublic) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; see ParseServerPublic.
func (p *ServerPublic) UnmarshalText(text []byte) error {
	k, err := ParseServerPublic(string(text))
	if err != nil {
		return err
	}
	*p = k
	return nil
}

// ParseServerPublic parses the text form produced by ServerPublic.String.
func ParseServerPublic(s string) (ServerPublic, error) {
	var p ServerPublic
	rest, ok := strings.CutPrefix(s, serverPublicPrefix)
	if !ok {
		return p, errors.New("securechan: parsing server key: it must start with \"sc1\"; copy the whole key from the server link")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != len(p) {
		return p, errors.New("securechan: parsing server key: not 32 bytes of base64url; copy the whole key from the server link")
	}
	copy(p[:], b)
	if p.isZero() {
		return p, errors.New("securechan: parsing server key: the all-zero key is not a valid server key")
	}
	return p, nil
}

func (p ServerPublic) isZero() bool {
	var zero ServerPublic
	return subtle.ConstantTimeCompare(p[:], zero[:]) == 1
}

// ServerKey is the server's static X25519 key pair. It cannot be compared
// with ==; Destroy zeroes it.
type ServerKey struct {
	_    incomparable
	priv [32]byte // secret
	pub  ServerPublic
}

// GenerateServerKey creates a new server key from rand (crypto/rand if nil).
func GenerateServerKey(rand io.Reader) (*ServerKey, error) {
	if rand == nil {
		rand = defaultRand
	}
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("securechan: generating server key: reading random bytes: %w", err)
	}
	k, err := NewServerKey(seed[:])
	clear(seed[:])
	return k, err
}

// NewServerKey rebuilds a server key from the 32 private bytes returned by
// Bytes (for example from the server's key file).
func NewServerKey(private []byte) (*ServerKey, error) {
	if len(private) != 32 {
		return nil, fmt.Errorf("securechan: loading server key: need 32 private bytes, got %d", len(private))
	}
	k := &ServerKey{}
	copy(k.priv[:], private)
	pub, err := curve25519.X25519(k.priv[:], curve25519.Basepoint)
	if err != nil {
		k.Destroy()
		return nil, errors.New("securechan: loading server key: invalid private key")
	}
	copy(k.pub[:], pub)
	return k, nil
}

// Public returns the public half, which clients pin.
func (k *ServerKey) Public() ServerPublic { return k.pub }

// Bytes returns a copy of the 32 private bytes, for storing the key. Treat
// the result as a secret.
func (k *ServerKey) Bytes() []byte { return append([]byte(nil), k.priv[:]...) }

// Destroy zeroes the private key. A Server using k must not be used after.
func (k *ServerKey) Destroy() { clear(k.priv[:]) }

// String never prints the private key.
func (k *ServerKey) String() string { return "securechan.ServerKey(" + k.pub.String() + ")" }

// defaultRand is the randomness used when a config leaves Rand nil.
var defaultRand io.Reader = rand.Reader
