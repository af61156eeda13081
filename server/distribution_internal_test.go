package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/transport"
)

func testDistributor(t *testing.T, file string, now time.Time) (*distributor, []reach.SignedEntry) {
	t.Helper()
	dd, err := newDistributor(ReachConfig{SliceSecret: []byte("distributor test secret"), TrustAge: time.Millisecond, ProbationShare: 0.1,
		SliceSize: 3, RevealEvery: time.Hour, InvitesPerPeriod: 2, ReportThreshold: 2, Period: 7 * 24 * time.Hour, LedgerFile: file}, now)
	if err != nil {
		t.Fatal(err)
	}
	var relays []reach.SignedEntry
	for i := range 10 {
		relays = append(relays, reach.SignedEntry{Entry: reach.Entry{ID: fmt.Sprintf("r-%02d", i), Kind: reach.KindRelay,
			Spec: transport.Spec{Name: "direct", Addr: fmt.Sprintf("192.0.2.%d:443", i+1)}}})
	}
	return dd, relays
}

func ids(h handout) []string {
	var out []string
	for _, se := range h.relays {
		out = append(out, se.Entry.ID)
	}
	return out
}

// TestDistributorReplacesBlocked: a relay two operator-invited holders
// report is judged blocked: revoked in every holder's book and replaced
// from the trusted relays within the reveal rate; one report alone takes
// it out of the reporter's book only.
func TestDistributorReplacesBlocked(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	dd, relays := testDistributor(t, filepath.Join(t.TempDir(), "ledger.json"), t0)
	reg := t0.Add(time.Minute)
	now := t0.Add(time.Hour)
	holders := map[string][]store.AccountID{}
	for i := range 6 { // 18 handed from 9 trusted relays: some relay has two holders
		a := store.AccountID(sha256.Sum256(fmt.Append(nil, i)))
		if err := dd.redeem(a, reach.MintInvitation(dd.key, reach.Invitation{Nonce: [16]byte{byte(i)}, NotAfter: now.Add(time.Hour)}), now); err != nil {
			t.Fatal(err)
		}
		h, err := dd.hand(a, reg, relays, now)
		if err != nil || len(h.relays) != 3 {
			t.Fatalf("account %d handed %v (%v), want 3 relays", i, ids(h), err)
		}
		for _, id := range ids(h) {
			holders[id] = append(holders[id], a)
		}
	}
	var x string
	for id, hs := range holders {
		if len(hs) >= 2 && (x == "" || id < x) {
			x = id
		}
	}
	p, q := holders[x][0], holders[x][1]
	if judged, err := dd.report(p, reg, []string{x}, now); err != nil || len(judged) != 0 {
		t.Fatalf("one report judged %v (%v)", judged, err)
	}
	hp, _ := dd.hand(p, reg, relays, now)
	hq, _ := dd.hand(q, reg, relays, now)
	if slices.Contains(ids(hp), x) || !slices.Equal(hp.revoked, []string{x}) || len(hp.relays) != 2 {
		t.Errorf("the reporter's book: %v revoking %v; want 2 relays without %s (no replacement before the reveal rate)", ids(hp), hp.revoked, x)
	}
	if !slices.Contains(ids(hq), x) || len(hq.revoked) != 0 {
		t.Errorf("another holder lost %s on one report: %v revoking %v", x, ids(hq), hq.revoked)
	}
	if judged, _ := dd.report(q, reg, []string{x}, now); !slices.Equal(judged, []string{x}) {
		t.Fatalf("two independent reports judged %v, want [%s]", judged, x)
	}
	later := now.Add(time.Hour)
	for _, a := range holders[x] {
		h, _ := dd.hand(a, reg, relays, later)
		if slices.Contains(ids(h), x) || !slices.Contains(h.revoked, x) || len(h.relays) != 3 {
			t.Errorf("holder after the block: %v revoking %v; want 3 relays, %s revoked", ids(h), h.revoked, x)
		}
	}
	// The ledger survives a restart.
	dd2, _ := testDistributor(t, dd.file, later)
	if _, ok := dd2.l.Blocked[x]; !ok || dd2.l.Accounts[hex.EncodeToString(p[:])].Inviter != operatorInviter {
		t.Error("the reloaded ledger lost the block or the inviter")
	}
}

// TestAdversaryInviteeReportsCountOnce: accounts invited by one account
// (the censor's mole and its invitees) and their inviter count as one
// reporter; the operator's invitees count one each.
func TestAdversaryInviteeReportsCountOnce(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	dd, _ := testDistributor(t, "", now)
	mole := store.AccountID{1}
	dd.acctLocked(mole).Inviter = operatorInviter
	r := map[string]time.Time{hex.EncodeToString(mole[:]): now}
	for i := 2; i < 6; i++ {
		a := store.AccountID{byte(i)}
		dd.acctLocked(a).Inviter = hex.EncodeToString(mole[:])
		r[hex.EncodeToString(a[:])] = now
	}
	if n := dd.independentLocked(r, now); n != 1 {
		t.Errorf("a mole and its 4 invitees count as %d reporters, want 1", n)
	}
	other := store.AccountID{9}
	dd.acctLocked(other).Inviter = operatorInviter
	r[hex.EncodeToString(other[:])] = now.Add(-reportWindow)
	if n := dd.independentLocked(r, now); n != 1 {
		t.Errorf("with an expired report: %d reporters, want 1", n)
	}
	r[hex.EncodeToString(other[:])] = now
	if n := dd.independentLocked(r, now); n != 2 {
		t.Errorf("with another operator invitee: %d reporters, want 2", n)
	}
}
