package schedule

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/treemath"
)

// The serialized state of a SecretTree, for persisting a group across
// restarts. It is samizdat's own format (not part of RFC 9420), written in
// the TLS presentation language:
//
//	struct {
//	    uint16 cipher_suite;
//	    uint32 n_leaves;
//	    uint32 max_forward;
//	    uint32 max_past;
//	    NodeSecret nodes<V>;      // ascending node index
//	    LeafRatchets ratchets<V>; // ascending leaf index
//	} SecretTreeState;
//
//	struct { uint32 node; opaque secret<V>; } NodeSecret;
//	struct {
//	    uint32 leaf;
//	    Ratchet handshake;
//	    Ratchet application;
//	} LeafRatchets;
//	struct {
//	    uint32 next;
//	    opaque secret<V>;
//	    RetainedKey past<V>; // ascending generation
//	} Ratchet;
//	struct { uint32 generation; opaque key<V>; opaque nonce<V>; } RetainedKey;
//
// The encoding holds secrets: store it encrypted.

var errState = errors.New("mls: invalid secret tree state")

// MarshalMLS implements codec.Marshaler. The encoding is deterministic.
func (t *SecretTree) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(t.suite.ID()))
	w.Uint32(t.nLeaves)
	w.Uint32(t.cfg.MaxForward)
	w.Uint32(t.cfg.MaxPast)
	w.Vector(func(w *codec.Writer) {
		for _, x := range slices.Sorted(maps.Keys(t.nodes)) {
			w.Uint32(uint32(x))
			w.VarBytes(t.nodes[x])
		}
	})
	w.Vector(func(w *codec.Writer) {
		for _, l := range slices.Sorted(maps.Keys(t.ratchets)) {
			w.Uint32(l)
			for i := range t.ratchets[l] {
				marshalRatchet(w, &t.ratchets[l][i])
			}
		}
	})
}

func marshalRatchet(w *codec.Writer, r *ratchet) {
	w.Uint32(r.next)
	w.VarBytes(r.secret)
	w.Vector(func(w *codec.Writer) {
		for _, g := range slices.Sorted(maps.Keys(r.past)) {
			w.Uint32(g)
			w.VarBytes(r.past[g].Key)
			w.VarBytes(r.past[g].Nonce)
		}
	})
}

// Bytes returns the serialized state of t (see MarshalMLS).
func (t *SecretTree) Bytes() ([]byte, error) {
	b, err := codec.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("mls: encoding secret tree state: %w", err)
	}
	return b, nil
}

// ParseSecretTree restores a SecretTree from the output of Bytes. It
// rejects malformed or inconsistent state and never panics.
func ParseSecretTree(b []byte) (*SecretTree, error) {
	t := new(SecretTree)
	if err := codec.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("mls: decoding secret tree state: %w", err)
	}
	return t, nil
}

// UnmarshalMLS implements codec.Unmarshaler; see ParseSecretTree.
func (t *SecretTree) UnmarshalMLS(r *codec.Reader) {
	*t = SecretTree{nodes: map[treemath.NodeIndex][]byte{}, ratchets: map[uint32]*[2]ratchet{}}
	id := suite.ID(r.Uint16())
	t.nLeaves = r.Uint32()
	t.cfg.MaxForward = r.Uint32()
	t.cfg.MaxPast = r.Uint32()
	if r.Err() != nil {
		return
	}
	s, err := suite.Get(id)
	if err != nil {
		r.SetErr(err)
		return
	}
	t.suite = s
	if err := checkLeafCount(t.nLeaves); err != nil {
		r.SetErr(fmt.Errorf("%w: %w", errState, err))
		return
	}
	if t.cfg.MaxForward == 0 || t.cfg.MaxPast == 0 {
		r.SetErr(fmt.Errorf("%w: zero window", errState))
		return
	}
	if err := t.cfg.check(); err != nil {
		r.SetErr(fmt.Errorf("%w: %w", errState, err))
		return
	}
	width := treemath.Width(t.nLeaves)
	last := int64(-1)
	r.ReadVector(func(r *codec.Reader) {
		x := r.Uint32()
		secret := r.VarBytes()
		switch {
		case r.Err() != nil:
		case int64(x) <= last || x >= width:
			r.SetErr(fmt.Errorf("%w: node %d out of order or outside the tree", errState, x))
		case len(secret) != s.HashLen():
			r.SetErr(fmt.Errorf("%w: node secret length", errState))
		default:
			t.nodes[treemath.NodeIndex(x)] = secret
			last = int64(x)
		}
	})
	last = -1
	r.ReadVector(func(r *codec.Reader) {
		l := r.Uint32()
		rs := new([2]ratchet)
		for i := range rs {
			t.unmarshalRatchet(r, &rs[i])
		}
		switch {
		case r.Err() != nil:
		case int64(l) <= last || l >= t.nLeaves:
			r.SetErr(fmt.Errorf("%w: leaf %d out of order or outside the tree", errState, l))
		default:
			t.ratchets[l] = rs
			last = int64(l)
		}
	})
	if r.Err() == nil {
		if err := t.checkCoverage(); err != nil {
			r.SetErr(err)
		}
	}
}

func (t *SecretTree) unmarshalRatchet(r *codec.Reader, rt *ratchet) {
	s := t.suite
	rt.next = r.Uint32()
	rt.secret = r.VarBytes()
	if r.Err() == nil && len(rt.secret) != s.HashLen() {
		r.SetErr(fmt.Errorf("%w: ratchet secret length", errState))
		return
	}
	last := int64(-1)
	r.ReadVector(func(r *codec.Reader) {
		g := r.Uint32()
		kn := KeyNonce{Key: r.VarBytes(), Nonce: r.VarBytes()}
		switch {
		case r.Err() != nil:
		case int64(g) <= last || g >= rt.next:
			r.SetErr(fmt.Errorf("%w: retained generation %d out of order or not in the past", errState, g))
		case len(kn.Key) != s.KeyLen() || len(kn.Nonce) != s.NonceLen():
			r.SetErr(fmt.Errorf("%w: retained key length", errState))
		case uint32(len(rt.past)) >= t.cfg.MaxPast:
			r.SetErr(fmt.Errorf("%w: more retained keys than the window", errState))
		default:
			if rt.past == nil {
				rt.past = map[uint32]KeyNonce{}
			}
			rt.past[g] = kn
			last = int64(g)
		}
	})
}

// checkCoverage verifies that every leaf has exactly one source of secrets:
// either its ratchets or exactly one node secret on its path to the root
// (RFC 9420 §9.2 deletes each secret once its children are derived). It
// works on leaf intervals, so its cost depends on the state's size, not on
// the leaf count.
func (t *SecretTree) checkCoverage() error {
	type span struct{ lo, hi uint32 }
	spans := make([]span, 0, len(t.nodes)+len(t.ratchets))
	for x := range t.nodes {
		lo, hi := leafSpan(x)
		if hi > t.nLeaves {
			return fmt.Errorf("%w: node %d outside the tree", errState, x)
		}
		spans = append(spans, span{lo, hi})
	}
	for l := range t.ratchets {
		spans = append(spans, span{l, l + 1})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	next := uint32(0)
	for _, sp := range spans {
		if sp.lo != next {
			return fmt.Errorf("%w: leaves without secrets or with two", errState)
		}
		next = sp.hi
	}
	if next != t.nLeaves {
		return fmt.Errorf("%w: leaves without secrets", errState)
	}
	return nil
}

// leafSpan returns the leaves [lo, hi) below node x.
func leafSpan(x treemath.NodeIndex) (lo, hi uint32) {
	k := treemath.Level(x)
	size := uint32(1) << k // leaves below x
	lo = (uint32(x) >> (k + 1)) * size
	return lo, lo + size
}
