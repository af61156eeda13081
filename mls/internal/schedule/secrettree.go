package schedule

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// RatchetType selects one of the two hash ratchets of a leaf (RFC 9420
// §9.1): handshake messages (proposals and commits) use the handshake
// ratchet, application messages the application ratchet.
type RatchetType uint8

// Ratchet types. The values are also used in the serialized tree state.
const (
	Handshake   RatchetType = 1
	Application RatchetType = 2
)

func (rt RatchetType) valid() bool { return rt == Handshake || rt == Application }

// Errors of the secret tree. They are wrapped with context.
var (
	// ErrLeafIndex is returned for a leaf index outside the tree.
	ErrLeafIndex = errors.New("mls: leaf index outside the secret tree")
	// ErrKeyUsed is returned for a generation below the ratchet's current
	// one whose key is no longer held: it was used already (a replay) or
	// it was evicted from the window of retained keys (RFC 9420 §9.2).
	ErrKeyUsed = errors.New("mls: key generation already used or expired")
	// ErrTooFarAhead is returned for a generation further ahead of the
	// ratchet than Config.MaxForward (RFC 9420 §9.2 lets a client bound
	// how far it ratchets forward).
	ErrTooFarAhead = errors.New("mls: key generation too far ahead")
	// ErrGenerationExhausted is returned when a ratchet reaches the last
	// uint32 generation.
	ErrGenerationExhausted = errors.New("mls: ratchet generations exhausted")
)

// Default window sizes of Config, and the largest values allowed: a
// window is work and memory an attacker may make us spend, so it is
// bounded even when configured (docs/spec/mls-policy.md, "Window
// bounds").
const (
	DefaultMaxForward = 1000
	DefaultMaxPast    = 128
	LimitMaxForward   = 1 << 16
	LimitMaxPast      = 1 << 12
)

// ErrWindow is returned for a Config whose windows exceed the limits.
var ErrWindow = errors.New("mls: secret tree window out of bounds")

// check rejects windows beyond LimitMaxForward and LimitMaxPast.
func (c Config) check() error {
	if c.MaxForward > LimitMaxForward || c.MaxPast > LimitMaxPast {
		return fmt.Errorf("%w: MaxForward %d (at most %d), MaxPast %d (at most %d)",
			ErrWindow, c.MaxForward, LimitMaxForward, c.MaxPast, LimitMaxPast)
	}
	return nil
}

// Config bounds the out-of-order tolerance of a SecretTree's ratchets.
// Zero fields take the defaults.
type Config struct {
	// MaxForward is how many generations past the next expected one a
	// received message may jump (default DefaultMaxForward).
	MaxForward uint32
	// MaxPast is how many derived but unused keys each ratchet retains for
	// late messages; beyond it the oldest generation is deleted (default
	// DefaultMaxPast).
	MaxPast uint32
}

func (c Config) withDefaults() Config {
	if c.MaxForward == 0 {
		c.MaxForward = DefaultMaxForward
	}
	if c.MaxPast == 0 {
		c.MaxPast = DefaultMaxPast
	}
	return c
}

// KeyNonce is an AEAD key and nonce of one ratchet generation (RFC 9420
// §9.1), before the reuse guard is applied.
type KeyNonce struct {
	Key   []byte
	Nonce []byte
}

func (kn KeyNonce) clone() KeyNonce {
	return KeyNonce{Key: append([]byte(nil), kn.Key...), Nonce: append([]byte(nil), kn.Nonce...)}
}

func (kn KeyNonce) wipe() {
	wipe(kn.Key)
	wipe(kn.Nonce)
}

// ratchet is one hash ratchet (RFC 9420 §9.1).
type ratchet struct {
	next   uint32              // generation of secret
	secret []byte              // ratchet_secret_[N]_[next]
	past   map[uint32]KeyNonce // derived, unused keys of generations < next
}

// SecretTree is the secret tree of one epoch (RFC 9420 §9) with the hash
// ratchets of every leaf. It derives secrets lazily and deletes each secret
// as soon as it has been used (RFC 9420 §9.2). It is not safe for
// concurrent use.
type SecretTree struct {
	suite   *suite.Suite
	nLeaves uint32
	cfg     Config
	// nodes holds the tree_node secrets not yet consumed, by node index.
	nodes map[treemath.NodeIndex][]byte
	// ratchets holds the handshake ([0]) and application ([1]) ratchets of
	// each leaf whose leaf secret has been consumed.
	ratchets map[uint32]*[2]ratchet
}

// NewSecretTree makes the secret tree of an epoch from encryption_secret
// for a ratchet tree of nLeaves leaves (RFC 9420 §9). nLeaves is the leaf
// count of the ratchet tree, a power of two (RFC 9420 §7.8).
func NewSecretTree(s *suite.Suite, encryptionSecret []byte, nLeaves uint32, cfg Config) (*SecretTree, error) {
	if err := checkLeafCount(nLeaves); err != nil {
		return nil, fmt.Errorf("mls: making secret tree: %w", err)
	}
	if len(encryptionSecret) != s.HashLen() {
		return nil, fmt.Errorf("mls: making secret tree: encryption_secret: %w", ErrSecretLength)
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("mls: making secret tree: %w", err)
	}
	t := &SecretTree{
		suite: s, nLeaves: nLeaves, cfg: cfg.withDefaults(),
		nodes:    map[treemath.NodeIndex][]byte{},
		ratchets: map[uint32]*[2]ratchet{},
	}
	// RFC 9420 §9: tree_node_[root]_secret = encryption_secret.
	t.nodes[treemath.Root(nLeaves)] = append([]byte(nil), encryptionSecret...)
	return t, nil
}

// checkLeafCount enforces that the tree is full (RFC 9420 §7.8: the number
// of leaves is a power of two).
func checkLeafCount(n uint32) error {
	if n == 0 || n > 1<<31 || bits.OnesCount32(n) != 1 {
		return fmt.Errorf("leaf count %d is not a power of two", n)
	}
	return nil
}

// LeafCount returns the number of leaves of the tree.
func (t *SecretTree) LeafCount() uint32 { return t.nLeaves }

// Suite returns the tree's cipher suite.
func (t *SecretTree) Suite() *suite.Suite { return t.suite }

// leafRatchets returns the ratchets of leaf, deriving the path from the
// nearest ancestor secret down to the leaf on first use and deleting every
// secret consumed on the way (RFC 9420 §9, §9.2).
func (t *SecretTree) leafRatchets(leaf uint32) (*[2]ratchet, error) {
	if leaf >= t.nLeaves {
		return nil, fmt.Errorf("%w: %d of %d", ErrLeafIndex, leaf, t.nLeaves)
	}
	if r, ok := t.ratchets[leaf]; ok {
		return r, nil
	}
	target := treemath.NodeOf(treemath.LeafIndex(leaf))
	path, err := t.pathToSecret(target)
	if err != nil {
		return nil, err
	}
	s := t.suite
	// Walk down, deriving both children and deleting the parent (RFC 9420
	// §9: tree_node_[left(N)]_secret = ExpandWithLabel(tree_node_[N]_secret,
	// "tree", "left", KDF.Nh), and likewise "right").
	for i := len(path) - 1; i > 0; i-- {
		x := path[i]
		secret := t.nodes[x]
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		t.nodes[l] = s.ExpandWithLabel(secret, "tree", []byte("left"), s.HashLen())
		t.nodes[r] = s.ExpandWithLabel(secret, "tree", []byte("right"), s.HashLen())
		wipe(secret)
		delete(t.nodes, x)
	}
	leafSecret := t.nodes[target]
	// RFC 9420 §9.1: handshake_ratchet_secret_[N]_[0] and
	// application_ratchet_secret_[N]_[0].
	rs := &[2]ratchet{
		{secret: s.ExpandWithLabel(leafSecret, "handshake", nil, s.HashLen())},
		{secret: s.ExpandWithLabel(leafSecret, "application", nil, s.HashLen())},
	}
	wipe(leafSecret)
	delete(t.nodes, target)
	t.ratchets[leaf] = rs
	return rs, nil
}

// pathToSecret returns the path from the leaf node target up to the
// nearest node that still holds a secret, target first.
func (t *SecretTree) pathToSecret(target treemath.NodeIndex) ([]treemath.NodeIndex, error) {
	path := []treemath.NodeIndex{target}
	for {
		if _, ok := t.nodes[path[len(path)-1]]; ok {
			return path, nil
		}
		p, ok := treemath.Parent(path[len(path)-1], t.nLeaves)
		if !ok {
			// Every leaf's path to the root holds exactly one secret until
			// the leaf's ratchets exist (RFC 9420 §9.2); reaching the root
			// without one means the state is corrupt.
			return nil, errors.New("mls: secret tree: no secret on the path of a leaf")
		}
		path = append(path, p)
	}
}

func (t *SecretTree) ratchet(leaf uint32, rt RatchetType) (*ratchet, error) {
	if !rt.valid() {
		return nil, fmt.Errorf("mls: secret tree: unknown ratchet type %d", rt)
	}
	rs, err := t.leafRatchets(leaf)
	if err != nil {
		return nil, err
	}
	return &rs[rt-1], nil
}

// derive returns the key and nonce of the ratchet's current generation
// (RFC 9420 §9.1: ratchet_key_[N]_[j] = DeriveTreeSecret(ratchet_secret,
// "key", j, AEAD.Nk), and "nonce" with AEAD.Nn).
func (t *SecretTree) derive(r *ratchet) KeyNonce {
	s := t.suite
	return KeyNonce{
		Key:   s.DeriveTreeSecret(r.secret, "key", r.next, s.KeyLen()),
		Nonce: s.DeriveTreeSecret(r.secret, "nonce", r.next, s.NonceLen()),
	}
}

// advance moves the ratchet to the next generation and deletes the
// previous secret (RFC 9420 §9.1: ratchet_secret_[N]_[j+1] =
// DeriveTreeSecret(ratchet_secret_[N]_[j], "secret", j, KDF.Nh); §9.2).
func (t *SecretTree) advance(r *ratchet) {
	next := t.suite.DeriveTreeSecret(r.secret, "secret", r.next, t.suite.HashLen())
	wipe(r.secret)
	r.secret = next
	r.next++
}

// NextKey returns the key and nonce of the next generation of leaf's
// ratchet rt for sending a message, and deletes them from the tree so they
// are never returned again (RFC 9420 §9.2).
func (t *SecretTree) NextKey(leaf uint32, rt RatchetType) (generation uint32, kn KeyNonce, err error) {
	r, err := t.ratchet(leaf, rt)
	if err != nil {
		return 0, KeyNonce{}, fmt.Errorf("mls: deriving sending key: %w", err)
	}
	if r.next == math.MaxUint32 {
		return 0, KeyNonce{}, fmt.Errorf("mls: deriving sending key: %w", ErrGenerationExhausted)
	}
	generation = r.next
	kn = t.derive(r)
	t.advance(r)
	return generation, kn, nil
}

// Key returns a copy of the key and nonce of generation of leaf's ratchet
// rt for decrypting a received message. It changes nothing in the tree:
// it neither derives a leaf's path, nor advances a ratchet, nor deletes or
// evicts a key, so that a message that fails to decrypt or whose signature
// does not verify burns nothing (docs/spec/mls-policy.md, "Key
// consumption order"). A caller that has decrypted AND authenticated the
// message MUST then call Consume (RFC 9420 §9.2).
func (t *SecretTree) Key(leaf uint32, rt RatchetType, generation uint32) (KeyNonce, error) {
	r, scratch, err := t.peekRatchet(leaf, rt)
	if err != nil {
		return KeyNonce{}, fmt.Errorf("mls: deriving receiving key: %w", err)
	}
	if scratch {
		defer wipe(r.secret)
	}
	if generation < r.next {
		kn, ok := r.past[generation]
		if !ok {
			return KeyNonce{}, fmt.Errorf("mls: deriving receiving key: generation %d: %w", generation, ErrKeyUsed)
		}
		return kn.clone(), nil
	}
	if err := t.checkAhead(r, generation); err != nil {
		return KeyNonce{}, fmt.Errorf("mls: deriving receiving key: %w", err)
	}
	// Ratchet a scratch copy of the secret forward (RFC 9420 §9.1).
	tmp := &ratchet{next: r.next, secret: append([]byte(nil), r.secret...)}
	defer func() { wipe(tmp.secret) }()
	for tmp.next < generation {
		t.advance(tmp)
	}
	return t.derive(tmp), nil
}

// checkAhead bounds a generation at or after the ratchet's next one.
func (t *SecretTree) checkAhead(r *ratchet, generation uint32) error {
	if generation-r.next > t.cfg.MaxForward {
		return fmt.Errorf("generation %d, expected at most %d: %w",
			generation, uint64(r.next)+uint64(t.cfg.MaxForward), ErrTooFarAhead)
	}
	if generation == math.MaxUint32 {
		return ErrGenerationExhausted
	}
	return nil
}

// peekRatchet returns leaf's ratchet rt without changing the tree. If the
// leaf's ratchets do not exist yet, it derives a scratch ratchet at
// generation 0 from the nearest ancestor secret (scratch is then true and
// the caller wipes its secret); otherwise it returns the live ratchet,
// which the caller must not modify.
func (t *SecretTree) peekRatchet(leaf uint32, rt RatchetType) (r *ratchet, scratch bool, err error) {
	if !rt.valid() {
		return nil, false, fmt.Errorf("mls: secret tree: unknown ratchet type %d", rt)
	}
	if leaf >= t.nLeaves {
		return nil, false, fmt.Errorf("%w: %d of %d", ErrLeafIndex, leaf, t.nLeaves)
	}
	if rs, ok := t.ratchets[leaf]; ok {
		return &rs[rt-1], false, nil
	}
	path, err := t.pathToSecret(treemath.NodeOf(treemath.LeafIndex(leaf)))
	if err != nil {
		return nil, false, err
	}
	s := t.suite
	secret := append([]byte(nil), t.nodes[path[len(path)-1]]...)
	// RFC 9420 §9: only the child on the path is needed.
	for i := len(path) - 1; i > 0; i-- {
		label := "right"
		if l, _ := treemath.Left(path[i]); l == path[i-1] {
			label = "left"
		}
		child := s.ExpandWithLabel(secret, "tree", []byte(label), s.HashLen())
		wipe(secret)
		secret = child
	}
	defer wipe(secret)
	labels := [2]string{"handshake", "application"}
	return &ratchet{secret: s.ExpandWithLabel(secret, labels[rt-1], nil, s.HashLen())}, true, nil
}

// Consume commits the receipt of an authenticated message of generation
// of leaf's ratchet rt: it derives the leaf's path if needed, advances the
// ratchet past generation keeping the skipped keys (at most
// Config.MaxPast, the oldest evicted first), and deletes the key of
// generation so that it is never returned again (RFC 9420 §9.2; this is
// the PrivateMessage replay protection). Call it only after the message
// decrypted and its signature verified; it fails, changing nothing, for a
// generation Key would refuse.
func (t *SecretTree) Consume(leaf uint32, rt RatchetType, generation uint32) error {
	if _, err := t.Key(leaf, rt, generation); err != nil {
		return err
	}
	r, err := t.ratchet(leaf, rt)
	if err != nil {
		return fmt.Errorf("mls: consuming key: %w", err)
	}
	if generation < r.next {
		r.past[generation].wipe()
		delete(r.past, generation)
		return nil
	}
	if r.past == nil {
		r.past = map[uint32]KeyNonce{}
	}
	for r.next < generation {
		// Keys that the window would evict at once are not derived.
		if generation-r.next <= t.cfg.MaxPast {
			r.past[r.next] = t.derive(r)
			t.evict(r)
		}
		t.advance(r)
	}
	t.advance(r) // the key of generation itself is never stored
	return nil
}

// evict deletes the oldest retained keys beyond Config.MaxPast.
func (t *SecretTree) evict(r *ratchet) {
	for uint32(len(r.past)) > t.cfg.MaxPast {
		oldest := uint32(math.MaxUint32)
		for g := range r.past {
			oldest = min(oldest, g)
		}
		r.past[oldest].wipe()
		delete(r.past, oldest)
	}
}

// Wipe overwrites every secret the tree holds and empties it.
func (t *SecretTree) Wipe() {
	for x, s := range t.nodes {
		wipe(s)
		delete(t.nodes, x)
	}
	for l, rs := range t.ratchets {
		for i := range rs {
			wipe(rs[i].secret)
			for _, kn := range rs[i].past {
				kn.wipe()
			}
		}
		delete(t.ratchets, l)
	}
}

// ApplyReuseGuard returns nonce with its first four bytes XORed with guard
// (RFC 9420 §6.3.1).
func ApplyReuseGuard(nonce []byte, guard [4]byte) []byte {
	out := append([]byte(nil), nonce...)
	for i := 0; i < len(guard) && i < len(out); i++ {
		out[i] ^= guard[i]
	}
	return out
}

// SenderDataKeyNonce derives the key and nonce that protect a
// PrivateMessage's sender data from sender_data_secret and the message's
// ciphertext (RFC 9420 §6.3.2): the sample is the first KDF.Nh bytes of
// the ciphertext, or all of it if it is shorter.
func SenderDataKeyNonce(s *suite.Suite, senderDataSecret, ciphertext []byte) (key, nonce []byte) {
	sample := ciphertext
	if len(sample) > s.HashLen() {
		sample = sample[:s.HashLen()]
	}
	key = s.ExpandWithLabel(senderDataSecret, "key", sample, s.KeyLen())
	nonce = s.ExpandWithLabel(senderDataSecret, "nonce", sample, s.NonceLen())
	return key, nonce
}
