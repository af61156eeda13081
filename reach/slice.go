package reach

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math"
	"time"
)

// Period numbers the slice period that contains t: Unix seconds divided by
// length (at least one second). Every server node computes the same number.
func Period(t time.Time, length time.Duration) uint64 {
	secs := int64(length / time.Second)
	if secs < 1 {
		secs = 1
	}
	u := t.Unix()
	if u < 0 {
		return 0
	}
	return uint64(u / secs)
}

const sliceContext = "samizdat/reach slice v1\x00"

// SliceScore is the rendezvous-hashing score of relay relayID for client
// clientID in period: HMAC-SHA256 keyed with the server's slice secret over
// the context, the period, the client ID and the relay ID, each
// length-prefixed. The secret keeps the censor from computing offline which
// identities would be handed which relays.
func SliceScore(secret []byte, period uint64, clientID []byte, relayID string) [32]byte {
	return newSliceScorer(secret, period, clientID).score(relayID)
}

// sliceScorer computes SliceScore for one (secret, period, client) and many
// relays, reusing one HMAC state.
type sliceScorer struct {
	mac    hash.Hash
	prefix []byte
}

func newSliceScorer(secret []byte, period uint64, clientID []byte) *sliceScorer {
	p := append([]byte(sliceContext), make([]byte, 12)...)
	binary.BigEndian.PutUint64(p[len(sliceContext):], period)
	binary.BigEndian.PutUint32(p[len(sliceContext)+8:], uint32(len(clientID)))
	p = append(p, clientID...)
	return &sliceScorer{mac: hmac.New(sha256.New, secret), prefix: p}
}

func (s *sliceScorer) score(relayID string) [32]byte {
	s.mac.Reset()
	s.mac.Write(s.prefix)
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(relayID)))
	s.mac.Write(l[:])
	s.mac.Write([]byte(relayID))
	var out [32]byte
	s.mac.Sum(out[:0])
	return out
}

// Slice is what the server calls to pick the relays one client is handed:
// the k relays with the highest SliceScore for (period, clientID), highest
// first (ties broken by ID). It is rendezvous hashing, so:
//   - the slice is stable within a period and independent of the order of
//     relays;
//   - adding or removing a relay changes a client's slice only where that
//     relay enters or leaves it;
//   - across periods slices rotate, so a blocked slice heals by itself.
//
// clientID should be stable per client (its account public key). Relays
// with duplicate IDs count once. Direct and front entries are not sliced:
// the server adds them to every book as it sees fit.
//
// What this buys against enumeration: N colluding fake clients each see k
// of R relays; see doc.go for the simulated numbers.
func Slice(secret []byte, period uint64, clientID []byte, relays []SignedEntry, k int) []SignedEntry {
	if k <= 0 || len(relays) == 0 {
		return nil
	}
	k = min(k, len(relays))
	type scored struct {
		idx   int
		score [32]byte
	}
	// better orders by score, highest first, then by ID.
	better := func(a, b scored) bool {
		if c := bytes.Compare(a.score[:], b.score[:]); c != 0 {
			return c > 0
		}
		return relays[a.idx].Entry.ID < relays[b.idx].Entry.ID
	}
	sc := newSliceScorer(secret, period, clientID)
	seen := make(map[string]bool, len(relays))
	top := make([]scored, 0, k+1) // the best k so far, best first
	for i, r := range relays {
		if seen[r.Entry.ID] {
			continue
		}
		seen[r.Entry.ID] = true
		c := scored{i, sc.score(r.Entry.ID)}
		if len(top) == k && !better(c, top[k-1]) {
			continue
		}
		j := len(top)
		top = append(top, c)
		for j > 0 && better(c, top[j-1]) {
			top[j] = top[j-1]
			j--
		}
		top[j] = c
		if len(top) > k {
			top = top[:k]
		}
	}
	out := make([]SignedEntry, len(top))
	for i, c := range top {
		out[i] = relays[c.idx]
	}
	return out
}

// probationID is the fixed "client" whose slice is the probation bucket.
const probationID = "samizdat/reach probation bucket v1"

// Probation splits relays into the probation bucket, at most the share of
// them (at least one, and never all when there are two or more) that devices
// too young to be trusted draw their slices from, and the rest, which only
// trusted devices are handed. The split is rendezvous hashing under the
// server's secret with no period, so it is stable, unknown to the censor,
// and moves only the relays that join or leave. However many fresh accounts
// a censor makes, they learn the probation bucket and nothing else; see
// doc.go, "Probation".
func Probation(secret []byte, relays []SignedEntry, share float64) (probation, trusted []SignedEntry) {
	if len(relays) == 0 {
		return nil, nil
	}
	// At most share of the relays (rounded down, at least one): the share
	// caps what fresh accounts can learn, so it never rounds up past it.
	n := int(math.Floor(share * float64(len(relays))))
	n = max(1, min(n, len(relays)-1))
	if len(relays) == 1 {
		n = 1
	}
	probation = Slice(secret, 0, []byte(probationID), relays, n)
	in := make(map[string]bool, len(probation))
	for _, se := range probation {
		in[se.Entry.ID] = true
	}
	for _, se := range relays {
		if !in[se.Entry.ID] {
			trusted = append(trusted, se)
			in[se.Entry.ID] = true // duplicates count once
		}
	}
	return probation, trusted
}
