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
	pool, trusted := d.Pool(a, relays, blocked, now)
	period := uint64(0)
	if trusted {
		period = Period(now, d.Period)
	}
	return Slice(d.Secret, period, a.ID, unblocked(pool, blocked), d.K)
}

// Pool is the relays a may ever be handed at now, blocked ones included,
// and whether a is trusted: the probation bucket on probation, else the
// other relays. With FixedBucket the bucket is drawn over every relay in
// relays, blocked or not, so blocking it never widens it.
func (d Distribution) Pool(a Account, relays []SignedEntry, blocked map[string]bool, now time.Time) ([]SignedEntry, bool) {
	base := relays
	if !d.FixedBucket {
		base = unblocked(relays, blocked)
	}
	probation, trusted := Probation(d.Secret, base, d.ProbationShare)
	if d.Trusted(a, now) && len(trusted) > 0 {
		return trusted, true
	}
	return probation, false
}

// Reveal picks up to n relays of pool that a neither holds nor are
// blocked, by rendezvous hashing keyed with a's ID and no period: the same
// account asking again is shown the same next relays, so asking more
// often never shows it more.
func (d Distribution) Reveal(a Account, pool []SignedEntry, held, blocked map[string]bool, n int) []SignedEntry {
	if n <= 0 {
		return nil
	}
	fresh := make([]SignedEntry, 0, len(pool))
	for _, se := range pool {
		if !held[se.Entry.ID] && !blocked[se.Entry.ID] {
			fresh = append(fresh, se)
		}
	}
	return Slice(d.Secret, 0, a.ID, fresh, n)
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
