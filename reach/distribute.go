package reach

import (
	"time"
)

// Account is what the server knows of a device when it hands it relays:
// its stable id, when it registered, and whether a trusted account invited
// it (an invitation redeemed from a device that was itself trusted).
type Account struct {
	ID               []byte
	Registered       time.Time
	InvitedByTrusted bool
}

// Distribution is the server's relay distribution policy: who is trusted,
// and which relays each account is handed given the relays known blocked.
// doc.go, "Distribution against enumeration", gives the simulation that
// chose its settings.
type Distribution struct {
	Secret         []byte
	TrustAge       time.Duration // probation lasts this long
	ProbationShare float64       // the probation bucket's share of relays
	K              int           // relays per book
	Period         time.Duration // trusted slices rotate every Period
	// NeedInvite: leaving probation also needs an invitation from a
	// trusted account (Lox's trust levels), so self-registered accounts
	// stay on probation however old they are.
	NeedInvite bool
	// FixedBucket: the probation bucket is drawn over every relay ever
	// published and blocked members stay in it (and are handed to nobody),
	// so blocking the bucket does not refill it from trusted relays: new
	// accounts cannot widen what they learn.
	FixedBucket bool
}

// Trusted reports whether a is past probation at now.
func (d Distribution) Trusted(a Account, now time.Time) bool {
	if now.Sub(a.Registered) < d.TrustAge {
		return false
	}
	return a.InvitedByTrusted || !d.NeedInvite
}

// Hand is the relays a gets in its book at now: a slice of the probation
// bucket on probation, else a slice of the other relays for the current
// period; relays in blocked are never handed, so a client whose relays
// were blocked gets replacements on its next fetch (from its own level).
func (d Distribution) Hand(a Account, relays []SignedEntry, blocked map[string]bool, now time.Time) []SignedEntry {
	base := relays
	if !d.FixedBucket {
		base = unblocked(relays, blocked)
	}
	probation, trusted := Probation(d.Secret, base, d.ProbationShare)
	if d.Trusted(a, now) && len(trusted) > 0 {
		return Slice(d.Secret, Period(now, d.Period), a.ID, unblocked(trusted, blocked), d.K)
	}
	return Slice(d.Secret, 0, a.ID, unblocked(probation, blocked), d.K)
}

func unblocked(relays []SignedEntry, blocked map[string]bool) []SignedEntry {
	out := make([]SignedEntry, 0, len(relays))
	for _, se := range relays {
		if !blocked[se.Entry.ID] {
			out = append(out, se)
		}
	}
	return out
}
