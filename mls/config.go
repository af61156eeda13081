package mls

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

// CipherSuite is an MLS cipher suite code point (RFC 9420 §17.1).
type CipherSuite uint16

// DefaultCipherSuite is the suite new identities and groups use unless the
// Config says otherwise: samizdat's hybrid post-quantum suite,
// MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519 (X-Wing KEM) at the
// private-use code point 0xF0A1 (docs/spec/mls-suites.md).
const DefaultCipherSuite = CipherSuite(suite.Default)

// Defaults of Config.
const (
	DefaultPaddingBlock       = 32
	DefaultMaxForwardDistance = 1000
	DefaultOutOfOrderKeys     = 128
	DefaultResumptionEpochs   = 8
	DefaultPastEpochs         = 2
	DefaultPastEpochMaxAge    = 24 * time.Hour
	DefaultKeyPackageLifetime = 90 * 24 * time.Hour
)

// Upper bounds of Config's windows: each is work or memory a peer can make
// us spend, so Validate refuses larger values (docs/spec/mls-policy.md,
// "Window bounds").
const (
	MaxMaxForwardDistance = schedule.LimitMaxForward
	MaxOutOfOrderKeys     = schedule.LimitMaxPast
	MaxResumptionEpochs   = 1024
	MaxPastEpochs         = 64
)

// PSKStore returns the external pre-shared key with the given psk_id, or
// false if the caller does not know it (RFC 9420 §8.4).
type PSKStore func(pskID []byte) ([]byte, bool)

// Config holds the injected dependencies and tunables of the engine. The
// zero value is usable: it means the default suite, crypto/rand, time.Now.
type Config struct {
	// CipherSuite of new identities and groups; 0 means DefaultCipherSuite.
	CipherSuite CipherSuite
	// Rand is the source of randomness; nil means crypto/rand.Reader.
	Rand io.Reader
	// Now is the clock used for KeyPackage lifetimes; nil means time.Now.
	Now func() time.Time
	// PaddingBlock pads PrivateMessage contents to a multiple of this many
	// bytes (RFC 9420 §6.3); 0 means DefaultPaddingBlock, negative means none.
	PaddingBlock int
	// MaxForwardDistance is how many generations a receiver ratchets ahead
	// for one message (RFC 9420 §9.4); 0 means DefaultMaxForwardDistance.
	MaxForwardDistance uint32
	// OutOfOrderKeys is how many skipped message keys are kept per sender
	// and ratchet for late messages; 0 means DefaultOutOfOrderKeys.
	OutOfOrderKeys int
	// ResumptionEpochs is how many past epochs' resumption PSKs are kept
	// (RFC 9420 §8.6); 0 means DefaultResumptionEpochs.
	ResumptionEpochs int
	// PastEpochs is how many past epochs' secret trees are kept so that
	// application messages sent before a commit still decrypt after it
	// (RFC 9420 §15.3); older ones are wiped. 0 means DefaultPastEpochs,
	// negative means none.
	PastEpochs int
	// PastEpochMaxAge bounds, by the Now clock, how long a past epoch is
	// kept after the group left it; older ones are wiped even if fewer
	// than PastEpochs are kept. 0 means DefaultPastEpochMaxAge.
	PastEpochMaxAge time.Duration
	// KeyPackageLifetime is the validity window of new KeyPackages; 0 means
	// DefaultKeyPackageLifetime.
	KeyPackageLifetime time.Duration
	// PSKs resolves external pre-shared keys; nil means none are known.
	PSKs PSKStore
	// ValidateCredential, if set, is the Authentication Service (RFC 9420
	// §5.3.1, §7.3 step 1): it is called with the basic credential's
	// identity and the leaf's signature key of every leaf wherever one
	// enters or is checked in a group (KeyPackages, Welcome and external
	// join trees, Add, Update, UpdatePath and external commit leaves). An
	// error rejects the leaf, and with it the whole message or Welcome;
	// the error wraps ErrCredentialRejected and the validator's error.
	ValidateCredential func(identity, signatureKey []byte) error
	// Policy decides which proposals and external joins of non-members
	// this member accepts (docs/spec/mls-policy.md); the zero value
	// refuses them all.
	Policy GroupPolicy
}

// leafCredentialCheck adapts ValidateCredential to the tree package's
// hook; nil when no validator is set. Only basic credentials are used.
func (c Config) leafCredentialCheck() func(*format.Credential, []byte) error {
	if c.ValidateCredential == nil {
		return nil
	}
	return func(cred *format.Credential, sigKey []byte) error {
		if cred.Type != format.CredentialBasic {
			return fmt.Errorf("%w: not a basic credential", ErrCredentialRejected)
		}
		if err := c.ValidateCredential(cred.Identity, sigKey); err != nil {
			return fmt.Errorf("%w: %w", ErrCredentialRejected, err)
		}
		return nil
	}
}

// Validate reports a Config whose bounds are out of range, wrapping
// ErrConfig. CreateGroup, the joins, Restore and NewKeyPackage call it: a
// negative window must never wrap to an unbounded one.
func (c Config) Validate() error {
	bad := func(field string, v any, rule string) error {
		return fmt.Errorf("%w: %s is %v; it must be %s", ErrConfig, field, v, rule)
	}
	switch {
	case c.MaxForwardDistance > MaxMaxForwardDistance:
		return bad("MaxForwardDistance", c.MaxForwardDistance, fmt.Sprintf("at most %d", MaxMaxForwardDistance))
	case c.OutOfOrderKeys < 0 || c.OutOfOrderKeys > MaxOutOfOrderKeys:
		return bad("OutOfOrderKeys", c.OutOfOrderKeys, fmt.Sprintf("between 0 and %d", MaxOutOfOrderKeys))
	case c.ResumptionEpochs < 0 || c.ResumptionEpochs > MaxResumptionEpochs:
		return bad("ResumptionEpochs", c.ResumptionEpochs, fmt.Sprintf("between 0 and %d", MaxResumptionEpochs))
	case c.PastEpochs > MaxPastEpochs:
		return bad("PastEpochs", c.PastEpochs, fmt.Sprintf("at most %d (negative: none)", MaxPastEpochs))
	case c.PastEpochMaxAge < 0:
		return bad("PastEpochMaxAge", c.PastEpochMaxAge, "positive, or 0 for the default")
	case c.KeyPackageLifetime < 0:
		return bad("KeyPackageLifetime", c.KeyPackageLifetime, "positive, or 0 for the default")
	}
	return nil
}

func (c Config) suiteID() CipherSuite {
	return cmp.Or(c.CipherSuite, DefaultCipherSuite)
}

func (c Config) rand() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c Config) paddingBlock() int {
	if c.PaddingBlock == 0 {
		return DefaultPaddingBlock
	}
	if c.PaddingBlock < 0 {
		return 0
	}
	return c.PaddingBlock
}

func (c Config) maxForward() uint32 {
	return cmp.Or(c.MaxForwardDistance, DefaultMaxForwardDistance)
}

func (c Config) outOfOrder() int {
	return cmp.Or(c.OutOfOrderKeys, DefaultOutOfOrderKeys)
}

func (c Config) resumptionEpochs() int {
	return cmp.Or(c.ResumptionEpochs, DefaultResumptionEpochs)
}

func (c Config) pastEpochs() int {
	return max(cmp.Or(c.PastEpochs, DefaultPastEpochs), 0)
}

func (c Config) pastEpochMaxAge() time.Duration {
	return cmp.Or(c.PastEpochMaxAge, DefaultPastEpochMaxAge)
}

func (c Config) keyPackageLifetime() time.Duration {
	return cmp.Or(c.KeyPackageLifetime, DefaultKeyPackageLifetime)
}

func (c Config) externalPSK(id []byte) ([]byte, bool) {
	if c.PSKs == nil {
		return nil, false
	}
	return c.PSKs(id)
}

// getSuite returns the implementation of a cipher suite.
func getSuite(cs CipherSuite) (*suite.Suite, error) {
	s, err := suite.Get(suite.ID(cs))
	if err != nil {
		return nil, fmt.Errorf("mls: cipher suite 0x%04x: %w", uint16(cs), ErrUnsupported)
	}
	return s, nil
}

// randomBytes reads n bytes from the configured source.
func (c Config) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.rand(), b); err != nil {
		return nil, fmt.Errorf("mls: reading randomness: %w", err)
	}
	return b, nil
}

// supportedCapabilities is what this engine supports (RFC 9420 §7.2). The
// default extensions and proposals need not be listed (§7.2).
func supportedCapabilities(cs CipherSuite) format.Capabilities {
	return format.Capabilities{
		Versions:     []format.ProtocolVersion{format.MLS10},
		CipherSuites: []format.CipherSuite{format.CipherSuite(cs)},
		Extensions:   []format.ExtensionType{format.ExtLastResort},
		Proposals:    []format.ProposalType{},
		Credentials:  []format.CredentialType{format.CredentialBasic},
	}
}
