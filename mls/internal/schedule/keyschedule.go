// Package schedule owns the secrets of an MLS epoch: the key schedule
// (RFC 9420 §8), the PSK secret (§8.4), the exporter (§8.5), the transcript
// hashes and confirmation tag (§8.2), the Welcome key and nonce (§12.4.3.1)
// and the secret tree with its per-sender hash ratchets (§9), including
// out-of-order tolerance and the deletion schedule (§9.2).
//
// Secrets are plain byte slices that this package never logs or puts into
// errors. Epoch.Wipe and SecretTree deletion overwrite secrets that are no
// longer needed.
package schedule

import (
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

// ErrSecretLength is returned when an input secret does not have the
// length that the cipher suite requires.
var ErrSecretLength = errors.New("mls: secret of wrong length")

// Epoch holds every secret of one epoch of the key schedule (RFC 9420 §8).
// Fields are named as in the RFC.
type Epoch struct {
	Suite *suite.Suite

	JoinerSecret  []byte
	WelcomeSecret []byte
	EpochSecret   []byte

	SenderDataSecret   []byte // "sender data"
	EncryptionSecret   []byte // "encryption"
	ExporterSecret     []byte // "exporter"
	ExternalSecret     []byte // "external"
	ConfirmationKey    []byte // "confirm"
	MembershipKey      []byte // "membership"
	ResumptionPSK      []byte // "resumption"
	EpochAuthenticator []byte // "authentication"
	InitSecret         []byte // "init": the init_secret of the next epoch
}

// Zero returns Nh zero bytes, the value RFC 9420 §8 uses for an absent
// commit_secret or psk_secret (and §8.4 for psk_secret_[0]).
func Zero(s *suite.Suite) []byte { return make([]byte, s.HashLen()) }

func checkLen(s *suite.Suite, what string, b []byte) error {
	if len(b) != s.HashLen() {
		return fmt.Errorf("mls: deriving key schedule: %s: %w (%d bytes, want %d)", what, ErrSecretLength, len(b), s.HashLen())
	}
	return nil
}

// extract checks that a and b are Nh-byte secrets (a nil b is the zero
// vector) and returns Extract(a, b), which the caller wipes.
func extract(s *suite.Suite, aName string, a []byte, bName string, b []byte) ([]byte, error) {
	if b == nil {
		b = Zero(s)
	}
	if err := checkLen(s, aName, a); err != nil {
		return nil, err
	}
	if err := checkLen(s, bName, b); err != nil {
		return nil, err
	}
	return s.Extract(a, b), nil
}

// JoinerSecret computes joiner_secret =
// ExpandWithLabel(Extract(init_secret, commit_secret), "joiner",
// GroupContext_[n], Nh) (RFC 9420 §8). A nil commitSecret means the zero
// vector. groupContext is the serialized GroupContext of the new epoch.
func JoinerSecret(s *suite.Suite, initSecret, commitSecret, groupContext []byte) ([]byte, error) {
	// RFC 9420 §8: init_secret and commit_secret are Nh-byte secrets. The
	// init_secret of a new group is random of length Nh (§11).
	prk, err := extract(s, "init_secret", initSecret, "commit_secret", commitSecret)
	if err != nil {
		return nil, err
	}
	defer wipe(prk)
	return s.ExpandWithLabel(prk, "joiner", groupContext, s.HashLen()), nil
}

// New runs the key schedule of one epoch from the previous epoch's
// init_secret (or a fresh random one for a new group), the commit_secret,
// the psk_secret and the serialized GroupContext of the new epoch
// (RFC 9420 §8). nil commitSecret or pskSecret mean the zero vector.
func New(s *suite.Suite, initSecret, commitSecret, pskSecret, groupContext []byte) (*Epoch, error) {
	joiner, err := JoinerSecret(s, initSecret, commitSecret, groupContext)
	if err != nil {
		return nil, err
	}
	return FromJoiner(s, joiner, pskSecret, groupContext)
}

// FromJoiner runs the key schedule from joiner_secret on, as a new member
// does after decrypting the GroupSecrets of a Welcome (RFC 9420 §8,
// §12.4.3.1). nil pskSecret means the zero vector. groupContext is the
// serialized GroupContext of the epoch being joined. The returned Epoch
// keeps joinerSecret (not a copy).
func FromJoiner(s *suite.Suite, joinerSecret, pskSecret, groupContext []byte) (*Epoch, error) {
	// RFC 9420 §8: the intermediate secret combines joiner_secret and
	// psk_secret; welcome_secret and epoch_secret derive from it.
	member, err := extract(s, "joiner_secret", joinerSecret, "psk_secret", pskSecret)
	if err != nil {
		return nil, err
	}
	defer wipe(member)
	e := &Epoch{Suite: s, JoinerSecret: joinerSecret}
	e.WelcomeSecret = s.DeriveSecret(member, "welcome")
	e.EpochSecret = s.ExpandWithLabel(member, "epoch", groupContext, s.HashLen())
	// RFC 9420 §8, table of epoch-derived secrets.
	d := func(label string) []byte { return s.DeriveSecret(e.EpochSecret, label) }
	e.SenderDataSecret = d("sender data")
	e.EncryptionSecret = d("encryption")
	e.ExporterSecret = d("exporter")
	e.ExternalSecret = d("external")
	e.ConfirmationKey = d("confirm")
	e.MembershipKey = d("membership")
	e.ResumptionPSK = d("resumption")
	e.EpochAuthenticator = d("authentication")
	e.InitSecret = d("init")
	return e, nil
}

// WelcomeSecret computes welcome_secret = DeriveSecret(Extract(joiner_secret,
// psk_secret), "welcome") (RFC 9420 §8), which a new member needs to
// decrypt the GroupInfo before it knows the GroupContext (§12.4.3.1). nil
// pskSecret means the zero vector.
func WelcomeSecret(s *suite.Suite, joinerSecret, pskSecret []byte) ([]byte, error) {
	member, err := extract(s, "joiner_secret", joinerSecret, "psk_secret", pskSecret)
	if err != nil {
		return nil, err
	}
	defer wipe(member)
	return s.DeriveSecret(member, "welcome"), nil
}

// WelcomeKeyNonce derives the AEAD key and nonce that encrypt a Welcome's
// GroupInfo from welcome_secret (RFC 9420 §12.4.3.1).
func WelcomeKeyNonce(s *suite.Suite, welcomeSecret []byte) (key, nonce []byte) {
	key = s.ExpandWithLabel(welcomeSecret, "key", nil, s.KeyLen())
	nonce = s.ExpandWithLabel(welcomeSecret, "nonce", nil, s.NonceLen())
	return key, nonce
}

// WelcomeKeyNonce derives the Welcome's GroupInfo key and nonce of this
// epoch (RFC 9420 §12.4.3.1).
func (e *Epoch) WelcomeKeyNonce() (key, nonce []byte) {
	return WelcomeKeyNonce(e.Suite, e.WelcomeSecret)
}

// ExternalKeyPair derives external_priv, external_pub =
// KEM.DeriveKeyPair(external_secret) (RFC 9420 §8.3). The public key is the
// value of the external_pub extension (§12.4.3.2).
func (e *Epoch) ExternalKeyPair() (priv, pub []byte, err error) {
	priv, pub, err = e.Suite.DeriveKeyPair(e.ExternalSecret)
	if err != nil {
		return nil, nil, fmt.Errorf("mls: deriving external key pair: %w", err)
	}
	return priv, pub, nil
}

// Export implements MLS-Exporter(label, context, length) =
// ExpandWithLabel(DeriveSecret(exporter_secret, label), "exported",
// Hash(context), length) (RFC 9420 §8.5).
func (e *Epoch) Export(label string, context []byte, length int) ([]byte, error) {
	// RFC 9420 §5.1.3: KDFLabel.length is a uint16; HKDF-Expand is limited
	// to 255*Nh bytes.
	if length < 0 || length > 0xffff || length > 255*e.Suite.HashLen() {
		return nil, fmt.Errorf("mls: exporting secret: invalid length %d", length)
	}
	inner := e.Suite.DeriveSecret(e.ExporterSecret, label)
	defer wipe(inner)
	return e.Suite.ExpandWithLabel(inner, "exported", e.Suite.Hash(context), length), nil
}

// SecretTree returns the secret tree of this epoch for a group of nLeaves
// leaves (RFC 9420 §9) with the given configuration.
func (e *Epoch) SecretTree(nLeaves uint32, cfg Config) (*SecretTree, error) {
	return NewSecretTree(e.Suite, e.EncryptionSecret, nLeaves, cfg)
}

// Wipe overwrites every secret of e. The encryption_secret is copied into
// a SecretTree when one is made, so wiping e does not affect the tree.
func (e *Epoch) Wipe() {
	for _, b := range [][]byte{
		e.JoinerSecret, e.WelcomeSecret, e.EpochSecret, e.SenderDataSecret, e.EncryptionSecret,
		e.ExporterSecret, e.ExternalSecret, e.ConfirmationKey, e.MembershipKey, e.ResumptionPSK,
		e.EpochAuthenticator, e.InitSecret,
	} {
		wipe(b)
	}
}

// wipe overwrites a secret that is no longer needed.
func wipe(b []byte) { clear(b) }
