package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/wire"
)

// bookServer is a server publishing n relays r-00.. with the given trust
// age (distribution.go's policy), and the ServerID its books verify with.
func bookServer(t *testing.T, n int, trustAge time.Duration, configure func(*server.ReachConfig)) (*testServer, reach.ServerID) {
	t.Helper()
	_, bookKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	var entries []reach.Entry
	for i := range n {
		entries = append(entries, reach.Entry{ID: fmt.Sprintf("r-%02d", i), Kind: reach.KindRelay,
			Spec: transport.Spec{Name: "direct", Addr: fmt.Sprintf("198.51.100.%d:443", i+1)}})
	}
	var signer *reach.Signer
	ts := startServer(t, func(c *server.Config) {
		var err error
		if signer, err = reach.NewSigner(bookKey, c.Key.Public()); err != nil {
			t.Fatal(err)
		}
		c.Reach = &server.ReachConfig{Signer: signer, SliceSecret: secret, Entries: entries, SliceSize: 3, TrustAge: trustAge}
		if configure != nil {
			configure(c.Reach)
		}
	})
	return ts, signer.ServerID()
}

// relaysOf returns the relay IDs of a book and the IDs it revokes.
func relaysOf(t *testing.T, data []byte, id reach.ServerID) (relays, revoked []string) {
	t.Helper()
	b, err := reach.VerifyBook(data, id, time.Now())
	if err != nil {
		t.Fatalf("book does not verify: %v", err)
	}
	for _, se := range b.Entries {
		if se.Entry.Kind == reach.KindRelay {
			relays = append(relays, se.Entry.ID)
		}
	}
	for _, r := range b.Revoked {
		revoked = append(revoked, r.ID)
	}
	return relays, revoked
}

// bookRelayIDs fetches dev's book and returns the IDs of its relays.
func bookRelayIDs(t *testing.T, ts *testServer, id reach.ServerID, dev identity) []string {
	t.Helper()
	c := connect(t, ts, dev)
	defer c.sc.Close()
	relays, _ := relaysOf(t, c.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book).Data, id)
	return relays
}

// invited registers a new account that redeems an operator's invitation.
func invited(t *testing.T, ts *testServer) identity {
	t.Helper()
	dev := newIdentity(newAccount())
	c := connect(t, ts, dev)
	defer c.sc.Close()
	c.must(&wire.RedeemInvitation{Token: ts.srv.MintInvitation(time.Hour)}, wire.TypeOK)
	return dev
}

// TestAdversaryEnumerationByFreshAccounts: a censor registers 100 fresh
// accounts and fetches each one's book, blocking every relay it learns,
// then waits until its accounts are older than the trust age and asks
// again. Against 50 relays in slices of 3, that burned nearly all of them
// (1-(1-3/50)^100 = 99.8%); with probation by age alone, the aged accounts
// were handed trusted slices (reach.TestAdversaryEnumeration100: 50 of 50
// under a patient censor). Now an account leaves probation only when it is
// invited, so the censor learns the probation bucket (at most 5 of 50)
// however long it waits, and invited users are never handed a relay it
// learned.
func TestAdversaryEnumerationByFreshAccounts(t *testing.T) {
	const trustAge = 1500 * time.Millisecond
	ts, id := bookServer(t, 50, trustAge, nil)
	var honest []identity
	for range 10 {
		honest = append(honest, invited(t, ts))
	}
	var fakes []identity
	learned := map[string]bool{}
	for range 100 {
		dev := newIdentity(newAccount())
		fakes = append(fakes, dev)
		for _, r := range bookRelayIDs(t, ts, id, dev) {
			learned[r] = true
		}
	}
	fresh := len(learned)
	time.Sleep(trustAge + 200*time.Millisecond) // the patient censor
	for _, dev := range fakes {
		for _, r := range bookRelayIDs(t, ts, id, dev) {
			learned[r] = true
		}
	}
	t.Logf("100 fake accounts learned %d of 50 relays fresh, %d after aging past the trust age", fresh, len(learned))
	if len(learned) > 5 {
		t.Errorf("100 fake accounts learned %d of 50 relays, want at most 5 (10%%)", len(learned))
	}
	for i, dev := range honest {
		relays := bookRelayIDs(t, ts, id, dev)
		if len(relays) != 3 {
			t.Errorf("invited user %d got %d relays, want 3", i, len(relays))
		}
		for _, r := range relays {
			if learned[r] {
				t.Errorf("invited user %d was handed %s, which the censor's accounts learned", i, r)
			}
		}
	}
}
