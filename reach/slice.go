package reach

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"slices"
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
	m := hmac.New(sha256.New, secret)
	var buf [8]byte
	m.Write([]byte(sliceContext))
	binary.BigEndian.PutUint64(buf[:], period)
	m.Write(buf[:])
	binary.BigEndian.PutUint32(buf[:4], uint32(len(clientID)))
	m.Write(buf[:4])
	m.Write(clientID)
	binary.BigEndian.PutUint32(buf[:4], uint32(len(relayID)))
	m.Write(buf[:4])
	m.Write([]byte(relayID))
	var out [32]byte
	m.Sum(out[:0])
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
	type scored struct {
		se    SignedEntry
		score [32]byte
	}
	seen := make(map[string]bool, len(relays))
	all := make([]scored, 0, len(relays))
	for _, r := range relays {
		if seen[r.Entry.ID] {
			continue
		}
		seen[r.Entry.ID] = true
		all = append(all, scored{r, SliceScore(secret, period, clientID, r.Entry.ID)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if c := bytes.Compare(b.score[:], a.score[:]); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.se.Entry.ID), []byte(b.se.Entry.ID))
	})
	if k > len(all) {
		k = len(all)
	}
	out := make([]SignedEntry, k)
	for i := range out {
		out[i] = all[i].se
	}
	return out
}
