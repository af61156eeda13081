package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/wire"
)

func TestFetchBook(t *testing.T) {
	_, bookKey, _ := ed25519.GenerateKey(rand.Reader)
	secret := make([]byte, 32)
	rand.Read(secret)
	var signer *reach.Signer
	entries := []reach.Entry{{ID: "direct-1", Kind: reach.KindDirect, Spec: transport.Spec{Name: "direct", Addr: "203.0.113.1:7443"}}}
	for i := range 10 {
		entries = append(entries, reach.Entry{ID: fmt.Sprintf("r-%02d", i), Kind: reach.KindRelay, Label: fmt.Sprintf("relay %d", i),
			Spec: transport.Spec{Name: "direct", Addr: fmt.Sprintf("198.51.100.%d:443", i+1)}})
	}
	ts := startServer(t, func(c *server.Config) {
		var err error
		if signer, err = reach.NewSigner(bookKey, c.Key.Public()); err != nil {
			t.Fatal(err)
		}
		c.Reach = &server.ReachConfig{Signer: signer, SliceSecret: secret, Entries: entries, SliceSize: 3, TrustAge: -1} // no probation: the plain slice
	})
	id := signer.ServerID()

	// Only registered devices get a book: identities cost the censor.
	anon := dial(t, ts, newIdentity(newAccount()))
	anon.hello()
	anon.wantError(&wire.FetchBook{}, wire.CodeUnauthorized)

	var slices3 [][]string
	for range 2 {
		dev := newIdentity(newAccount())
		c := connect(t, ts, dev)
		resp := c.must(&wire.FetchBook{}, wire.TypeBook).(*wire.Book)
		b, err := reach.VerifyBook(resp.Data, id, time.Now())
		if err != nil {
			t.Fatalf("the server's book does not verify: %v", err)
		}
		var direct, relays []string
		for _, se := range b.Entries {
			if se.Entry.NotAfter.Before(time.Now().Add(24 * time.Hour)) {
				t.Errorf("entry %s expires too soon: %v", se.Entry.ID, se.Entry.NotAfter)
			}
			if se.Entry.Kind == reach.KindRelay {
				relays = append(relays, se.Entry.ID)
			} else {
				direct = append(direct, se.Entry.ID)
			}
		}
		if !slices.Equal(direct, []string{"direct-1"}) {
			t.Errorf("direct entries %v, want [direct-1]", direct)
		}
		// The slice is the rendezvous-hash slice of this account's id
		// (distribution.go: kept per account, no period).
		acctID := sha(dev.account)
		cands := make([]reach.SignedEntry, 0, 10)
		for _, e := range entries[1:] {
			cands = append(cands, reach.SignedEntry{Entry: e})
		}
		var want []string
		for _, se := range reach.Slice(secret, 0, acctID[:], cands, 3) {
			want = append(want, se.Entry.ID)
		}
		slices.Sort(want)
		if !slices.Equal(relays, want) {
			t.Errorf("device got relays %v, want its slice %v", relays, want)
		}
		slices3 = append(slices3, relays)
		// A client cache merges it.
		cache := reach.NewCache(id)
		if n, err := cache.MergeBook(resp.Data, time.Now()); err != nil || n != 4 {
			t.Errorf("cache merged %d entries (%v), want 4", n, err)
		}
	}
	t.Logf("two devices' slices: %v and %v", slices3[0], slices3[1])

	// A server without a book says so.
	plain := startServer(t, nil)
	c := connect(t, plain, newIdentity(newAccount()))
	c.wantError(&wire.FetchBook{}, wire.CodeNotFound)
}

func TestReachConfigChecked(t *testing.T) {
	_, bookKey, _ := ed25519.GenerateKey(rand.Reader)
	ts := startServer(t, nil)
	signer, _ := reach.NewSigner(bookKey, ts.pub)
	bad := []server.ReachConfig{
		{SliceSecret: make([]byte, 32)},
		{Signer: signer, SliceSecret: make([]byte, 8)},
		{Signer: signer, SliceSecret: make([]byte, 32), Entries: []reach.Entry{{ID: "Bad ID", Kind: reach.KindRelay, Spec: transport.Spec{Name: "direct", Addr: "1.2.3.4:5"}}}},
		{Signer: signer, SliceSecret: make([]byte, 32), Entries: []reach.Entry{
			{ID: "a", Kind: reach.KindRelay, Spec: transport.Spec{Name: "direct", Addr: "1.2.3.4:5"}},
			{ID: "a", Kind: reach.KindRelay, Spec: transport.Spec{Name: "direct", Addr: "1.2.3.4:6"}}}},
	}
	for i, rc := range bad {
		key, err := securechan.GenerateServerKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.New(server.Config{Store: ts.store, Key: key, Reach: &rc}); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}
