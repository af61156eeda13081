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

// bookRelayIDs fetches dev's book and returns the IDs of its relays.
func bookRelayIDs(t *testing.T, ts *testServer, id reach.ServerID, dev identity) []string {
	t.Helper()
	c := connect(t, ts, dev)
	defer c.sc.Close()
	resp := c.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book)
	b, err := reach.VerifyBook(resp.Data, id, time.Now())
	if err != nil {
		t.Fatalf("book does not verify: %v", err)
	}
	var out []string
	for _, se := range b.Entries {
		if se.Entry.Kind == reach.KindRelay {
			out = append(out, se.Entry.ID)
		}
	}
	return out
}

// TestAdversaryEnumerationByFreshAccounts: a censor registers 100 fresh
// accounts and fetches each one's book, blocking every relay it learns.
// Against 50 relays handed out in slices of 3, that burned nearly all of
// them (1-(1-3/50)^100 = 99.8%). With probation, a device younger than
// TrustAge draws only from the probation bucket (10% of the relays), so the
// censor learns at most 5 of 50, while devices older than TrustAge, the
// honest users who were there before, get slices the censor never sees.
func TestAdversaryEnumerationByFreshAccounts(t *testing.T) {
	_, bookKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	var entries []reach.Entry
	for i := range 50 {
		entries = append(entries, reach.Entry{ID: fmt.Sprintf("r-%02d", i), Kind: reach.KindRelay,
			Spec: transport.Spec{Name: "direct", Addr: fmt.Sprintf("198.51.100.%d:443", i+1)}})
	}
	const trustAge = 1500 * time.Millisecond
	var signer *reach.Signer
	ts := startServer(t, func(c *server.Config) {
		var err error
		if signer, err = reach.NewSigner(bookKey, c.Key.Public()); err != nil {
			t.Fatal(err)
		}
		c.Reach = &server.ReachConfig{Signer: signer, SliceSecret: secret, Entries: entries, SliceSize: 3, TrustAge: trustAge}
	})
	id := signer.ServerID()

	// Honest users registered before the censor's accounts.
	var honest []identity
	for range 10 {
		dev := newIdentity(newAccount())
		connect(t, ts, dev).sc.Close()
		honest = append(honest, dev)
	}
	time.Sleep(trustAge + 200*time.Millisecond)

	learned := map[string]bool{}
	for range 100 {
		for _, r := range bookRelayIDs(t, ts, id, newIdentity(newAccount())) {
			learned[r] = true
		}
	}
	t.Logf("100 fresh accounts learned %d of 50 relays", len(learned))
	if len(learned) > 5 {
		t.Errorf("100 fresh accounts learned %d of 50 relays, want at most 5 (10%%)", len(learned))
	}
	for i, dev := range honest {
		relays := bookRelayIDs(t, ts, id, dev)
		if len(relays) != 3 {
			t.Errorf("honest user %d got %d relays, want 3", i, len(relays))
		}
		for _, r := range relays {
			if learned[r] {
				t.Errorf("honest user %d was handed %s, which the censor's fresh accounts learned", i, r)
			}
		}
	}
}
