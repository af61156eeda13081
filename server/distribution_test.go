package server_test

import (
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/wire"
)

// report sends ReportBlocked over c and returns the book it answers with.
func report(t *testing.T, c *client, id reach.ServerID, ids ...string) (relays, revoked []string) {
	t.Helper()
	return relaysOf(t, c.must(&wire.ReportBlocked{IDs: ids}, wire.TypeBook).(*wire.Book).Data, id)
}

// outside returns the elements of xs that are not in set.
func outside(xs, set []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(set, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestAdversaryFalseBlockReports: the censor tries to get honest users'
// relays revoked by reporting them blocked. Fresh accounts (any number)
// are refused; a trusted account the censor infiltrated, and the accounts
// it invites, count as one reporter and only for relays they were handed;
// relays they were not handed are ignored. Nothing an honest user holds is
// revoked, and reporting shows the reporters no new relay (what they
// report leaves their own books; a replacement waits for the reveal rate).
func TestAdversaryFalseBlockReports(t *testing.T) {
	const trustAge = 300 * time.Millisecond
	ts, id := bookServer(t, 50, trustAge, nil)
	honest := invited(t, ts)
	mole := invited(t, ts) // an honest-looking account the censor got invited
	time.Sleep(trustAge + 50*time.Millisecond)
	hc := connect(t, ts, honest)
	target, _ := relaysOf(t, hc.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book).Data, id)

	for range 30 {
		c := connect(t, ts, newIdentity(newAccount()))
		c.must(&wire.FetchBook{}, wire.TypeBook)
		c.wantError(&wire.ReportBlocked{IDs: target}, wire.CodeUnauthorized)
		c.sc.Close()
	}
	// The mole invites two more accounts of the censor's, and no more.
	mc := connect(t, ts, mole)
	var tokens [][]byte
	for range 2 {
		tokens = append(tokens, mc.must(&wire.RequestInvitation{}, wire.TypeInvitation).(*wire.Invitation).Token)
	}
	mc.wantError(&wire.RequestInvitation{}, wire.CodeRateLimited)
	gang := []*client{mc}
	for _, tok := range tokens {
		c := connect(t, ts, newIdentity(newAccount()))
		c.must(&wire.RedeemInvitation{Token: tok}, wire.TypeOK)
		gang = append(gang, c)
	}
	time.Sleep(trustAge + 50*time.Millisecond)
	for _, c := range gang {
		own, _ := relaysOf(t, c.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book).Data, id)
		after, revoked := report(t, c, id, append(slices.Clone(target), own...)...)
		if extra := outside(append(after, revoked...), own); len(extra) > 0 {
			t.Errorf("a gang member reporting got %v in its book and %v revoked: %v were never its own (%v)", after, revoked, extra, own)
		}
	}
	after, revoked := relaysOf(t, hc.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book).Data, id)
	if len(revoked) != 0 || !slices.Equal(after, target) {
		t.Errorf("after the false reports the honest user holds %v, revoked %v; want %v", after, revoked, target)
	}
}

// TestAdversaryFreshAccountWidens: a fresh account tries every way to
// learn more than the probation bucket: fetching again, a second device,
// reporting its relays blocked, asking for an invitation for itself,
// forged and reused invitations, waiting past the trust age, and
// registering again and again.
func TestAdversaryFreshAccountWidens(t *testing.T) {
	const trustAge = 300 * time.Millisecond
	ts, id := bookServer(t, 50, trustAge, nil)
	acct := newAccount()
	c := connect(t, ts, newIdentity(acct))
	first := bookRelayIDs(t, ts, id, newIdentity(acct))
	for range 5 {
		if got, _ := relaysOf(t, c.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book).Data, id); !slices.Equal(got, first) {
			t.Fatalf("fetching again: %v, want %v", got, first)
		}
	}
	c.wantError(&wire.ReportBlocked{IDs: first}, wire.CodeUnauthorized)
	c.wantError(&wire.RequestInvitation{}, wire.CodeUnauthorized)
	forged := make([]byte, wire.InvitationToken)
	rand.Read(forged)
	c.wantError(&wire.RedeemInvitation{Token: forged}, wire.CodeBadRequest)
	other, _ := bookServer(t, 5, trustAge, nil)
	c.wantError(&wire.RedeemInvitation{Token: other.srv.MintInvitation(time.Hour)}, wire.CodeBadRequest)
	used := ts.srv.MintInvitation(time.Hour)
	friend := connect(t, ts, newIdentity(newAccount()))
	friend.must(&wire.RedeemInvitation{Token: used}, wire.TypeOK)
	friend.wantError(&wire.RedeemInvitation{Token: ts.srv.MintInvitation(time.Hour)}, wire.CodeConflict)
	c.wantError(&wire.RedeemInvitation{Token: used}, wire.CodeBadRequest)
	time.Sleep(trustAge + 50*time.Millisecond)
	if got := bookRelayIDs(t, ts, id, newIdentity(acct)); !slices.Equal(got, first) {
		t.Errorf("past the trust age, uninvited: %v, want %v", got, first)
	}
	union := map[string]bool{}
	for range 40 {
		for _, r := range bookRelayIDs(t, ts, id, newIdentity(newAccount())) {
			union[r] = true
		}
	}
	for _, r := range first {
		union[r] = true
	}
	if len(union) > 5 {
		t.Errorf("41 fresh accounts learned %d relays, want at most the bucket of 5", len(union))
	}
}

// TestAdversaryEnumeration100 is issue #13's scenario in process with the
// server's policy: 50 relays; 10 invited users, two of whom fetched their
// first book while still on probation (so they hold bucket relays); 100
// fake accounts fetch their books and the censor blocks every relay they
// learn; the honest users report what they hold that is blocked (as the
// client does when a relay fails while others work), and fetch again.
// Goal: at most 5 of 50 burned, every honest user holding 3 live relays
// and no blocked one after reporting, and a relay both early users held
// judged blocked (revoked in both books).
func TestAdversaryEnumeration100(t *testing.T) {
	const trustAge = 300 * time.Millisecond
	ts, id := bookServer(t, 50, trustAge, func(rc *server.ReachConfig) { rc.RevealEvery = time.Hour })
	var honest []*client
	for i := range 10 {
		dev := newIdentity(newAccount())
		c := connect(t, ts, dev)
		if i < 2 {
			c.must(&wire.FetchBook{}, wire.TypeBook) // on probation: the bucket
		}
		c.must(&wire.RedeemInvitation{Token: ts.srv.MintInvitation(time.Hour)}, wire.TypeOK)
		honest = append(honest, c)
	}
	time.Sleep(trustAge + 50*time.Millisecond)
	blocked := map[string]bool{}
	for range 100 {
		for _, r := range bookRelayIDs(t, ts, id, newIdentity(newAccount())) {
			blocked[r] = true
		}
	}
	revokedAll := map[string]bool{}
	for round := range 2 { // report, then see the book after the others' reports
		for i, c := range honest {
			relays, revoked := relaysOf(t, c.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book).Data, id)
			var bad []string
			live := 0
			for _, r := range relays {
				if blocked[r] {
					bad = append(bad, r)
				} else {
					live++
				}
			}
			for _, r := range revoked {
				revokedAll[r] = true
			}
			if len(bad) > 0 {
				report(t, c, id, bad...)
			}
			if round == 1 && live < 3 {
				t.Errorf("honest user %d holds %d live relays (%v), want 3", i, live, relays)
			}
			if round == 1 && len(bad) > 0 {
				t.Errorf("honest user %d still holds blocked %v after two reports", i, bad)
			}
		}
	}
	t.Logf("burned %d of 50; revoked from honest books: %v", len(blocked), revokedAll)
	if len(blocked) > 5 {
		t.Errorf("burned %d of 50, want at most 5", len(blocked))
	}
	if len(revokedAll) == 0 {
		t.Error("the two users who held bucket relays saw none revoked")
	}
}
