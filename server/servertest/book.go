package servertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
)

// StartWithBook is Start for a server that publishes a signed endpoint
// book of entries to every registered device, probation off (reach.go in
// package server); it returns the book's signer too, whose ServerID
// verifies the book.
func StartWithBook(t testing.TB, entries []reach.Entry) (*Server, *reach.Signer) {
	t.Helper()
	_, bookKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	var signer *reach.Signer
	srv := Start(t, func(c *server.Config) {
		if c.Key == nil {
			if c.Key, err = securechan.GenerateServerKey(rand.Reader); err != nil {
				t.Fatal(err)
			}
		}
		if signer, err = reach.NewSigner(bookKey, c.Key.Public()); err != nil {
			t.Fatal(err)
		}
		c.Reach = &server.ReachConfig{Signer: signer, SliceSecret: secret, Entries: entries, SliceSize: 3, TrustAge: -1}
	})
	return srv, signer
}
