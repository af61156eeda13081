package schedule

import (
	"bytes"
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

func newTestTree(t testing.TB, nLeaves uint32, cfg Config) *SecretTree {
	t.Helper()
	s, err := suite.Get(suite.X25519AES128GCMSHA256Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{7}, s.HashLen())
	tree, err := NewSecretTree(s, secret, nLeaves, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestSenderReceiverAgree checks that the keys a sender takes with NextKey
// are the keys a receiver derives with Key, in and out of order.
func TestSenderReceiverAgree(t *testing.T) {
	sender := newTestTree(t, 4, Config{})
	receiver := newTestTree(t, 4, Config{})
	var sent []KeyNonce
	for g := range 5 {
		gen, kn, err := sender.NextKey(2, Application)
		if err != nil || gen != uint32(g) {
			t.Fatalf("NextKey: generation %d, %v", gen, err)
		}
		sent = append(sent, kn)
	}
	for _, g := range []uint32{3, 0, 4, 1, 2} {
		kn, err := receiver.Key(2, Application, g)
		if err != nil {
			t.Fatalf("generation %d: %v", g, err)
		}
		if !bytes.Equal(kn.Key, sent[g].Key) || !bytes.Equal(kn.Nonce, sent[g].Nonce) {
			t.Errorf("generation %d: receiver key differs from sender key", g)
		}
		receiver.Consume(2, Application, g)
	}
	// The handshake ratchet is independent of the application one.
	hs, err := receiver.Key(2, Handshake, 0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(hs.Key, sent[0].Key) {
		t.Error("handshake and application generation 0 share a key")
	}
}

func TestReplayAndWindow(t *testing.T) {
	tree := newTestTree(t, 2, Config{MaxForward: 10, MaxPast: 3})
	if _, err := tree.Key(1, Handshake, 11); !errors.Is(err, ErrTooFarAhead) {
		t.Errorf("generation 11 with MaxForward 10: %v, want ErrTooFarAhead", err)
	}
	if _, err := tree.Key(1, Handshake, 10); err != nil {
		t.Fatalf("generation 10: %v", err)
	}
	tree.Consume(1, Handshake, 10)
	if _, err := tree.Key(1, Handshake, 10); !errors.Is(err, ErrKeyUsed) {
		t.Errorf("replayed generation 10: %v, want ErrKeyUsed", err)
	}
	// Only MaxPast skipped keys are retained: 7, 8 and 9.
	for g := uint32(0); g < 7; g++ {
		if _, err := tree.Key(1, Handshake, g); !errors.Is(err, ErrKeyUsed) {
			t.Errorf("evicted generation %d: %v, want ErrKeyUsed", g, err)
		}
	}
	for g := uint32(7); g < 10; g++ {
		if _, err := tree.Key(1, Handshake, g); err != nil {
			t.Errorf("retained generation %d: %v", g, err)
		}
	}
	// A key that is looked up but not consumed stays available.
	if _, err := tree.Key(1, Handshake, 8); err != nil {
		t.Errorf("unconsumed generation 8: %v", err)
	}
	if _, err := tree.Key(2, Handshake, 0); !errors.Is(err, ErrLeafIndex) {
		t.Errorf("leaf 2 of 2: %v, want ErrLeafIndex", err)
	}
}

// TestDeletionSchedule checks that deriving a leaf deletes the secrets it
// consumed (RFC 9420 §9.2) and that the state stays consistent.
func TestDeletionSchedule(t *testing.T) {
	tree := newTestTree(t, 8, Config{})
	if _, _, err := tree.NextKey(5, Handshake); err != nil {
		t.Fatal(err)
	}
	// Root 7 -> 3 (kept: 11) -> 11 -> 9 (kept: 13) -> leaf 10 (kept: 8).
	// Remaining node secrets: 3, 13, 8; leaf 5 has ratchets.
	want := map[uint32]bool{3: true, 13: true, 8: true}
	if len(tree.nodes) != len(want) {
		t.Errorf("%d node secrets left, want %d", len(tree.nodes), len(want))
	}
	for x := range tree.nodes {
		if !want[uint32(x)] {
			t.Errorf("node %d still holds a secret", x)
		}
	}
	if err := tree.checkCoverage(); err != nil {
		t.Error(err)
	}
}

func TestParseSecretTreeRejects(t *testing.T) {
	tree := newTestTree(t, 4, Config{})
	if err := tree.Consume(1, Application, 3); err != nil {
		t.Fatal(err)
	}
	good, err := tree.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSecretTree(good); err != nil {
		t.Fatalf("valid state: %v", err)
	}
	for i := range good {
		if _, err := ParseSecretTree(good[:i]); err == nil {
			t.Fatalf("truncated state (%d of %d bytes) parsed", i, len(good))
		}
	}
	if _, err := ParseSecretTree(append(append([]byte{}, good...), 0)); err == nil {
		t.Error("state with a trailing byte parsed")
	}
	// A state with a leaf covered twice (its ratchets and the root secret).
	dup := newTestTree(t, 4, Config{})
	dup.ratchets[0] = tree.ratchets[1]
	b, err := dup.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSecretTree(b); err == nil {
		t.Error("state with a doubly covered leaf parsed")
	}
}

func FuzzParseSecretTree(f *testing.F) {
	tree := newTestTree(f, 4, Config{MaxPast: 4})
	for _, g := range []uint32{0, 2, 5} {
		if err := tree.Consume(3, Handshake, g); err != nil {
			f.Fatal(err)
		}
	}
	b, err := tree.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseSecretTree(data)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same bytes and is usable.
		again, err := st.Bytes()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("state does not round-trip: %v", err)
		}
		for l := uint32(0); l < st.LeafCount() && l < 4; l++ {
			_, _ = st.Key(l, Application, 1)
			_ = st.Consume(l, Application, 1)
			_, _, _ = st.NextKey(l, Handshake)
		}
	})
}

// TestKeyChangesNothing: looking a key up, at any generation the window
// allows, leaves the tree's serialized state byte for byte unchanged; only
// Consume advances and deletes (docs/spec/mls-policy.md, "Key consumption
// order").
func TestKeyChangesNothing(t *testing.T) {
	tree := newTestTree(t, 8, Config{MaxForward: 50, MaxPast: 4})
	if err := tree.Consume(5, Application, 2); err != nil {
		t.Fatal(err)
	}
	before, err := tree.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		leaf uint32
		rt   RatchetType
		gen  uint32
	}{{5, Application, 0}, {5, Application, 1}, {5, Application, 3}, {5, Application, 52}, {5, Handshake, 50}, {2, Application, 40}, {7, Handshake, 0}} {
		if _, err := tree.Key(c.leaf, c.rt, c.gen); err != nil {
			t.Fatalf("Key(%d, %d, %d): %v", c.leaf, c.rt, c.gen, err)
		}
	}
	if _, err := tree.Key(5, Application, 54); !errors.Is(err, ErrTooFarAhead) {
		t.Fatalf("generation 54: %v, want ErrTooFarAhead", err)
	}
	after, err := tree.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("Key changed the secret tree")
	}
	// A refused Consume changes nothing either.
	if err := tree.Consume(5, Application, 2); !errors.Is(err, ErrKeyUsed) {
		t.Fatalf("consuming generation 2 twice: %v", err)
	}
	if again, _ := tree.Bytes(); !bytes.Equal(before, again) {
		t.Fatal("a refused Consume changed the secret tree")
	}
}

func TestWindowLimits(t *testing.T) {
	s, _ := suite.Get(suite.X25519AES128GCMSHA256Ed25519)
	secret := bytes.Repeat([]byte{7}, s.HashLen())
	for _, cfg := range []Config{{MaxPast: LimitMaxPast + 1}, {MaxForward: LimitMaxForward + 1}} {
		if _, err := NewSecretTree(s, secret, 4, cfg); !errors.Is(err, ErrWindow) {
			t.Errorf("%+v: %v, want ErrWindow", cfg, err)
		}
	}
}
