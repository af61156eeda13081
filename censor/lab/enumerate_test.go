package lab

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/transport"
)

// TestFakeClientFetchesBook: the enumerating censor's fake client
// registers a fresh account on a real server and gets a book that
// verifies under the server's book key, with the server's relays in it.
func TestFakeClientFetchesBook(t *testing.T) {
	relay := reach.Entry{ID: "r-1", Kind: reach.KindRelay, Label: "relay 1", Spec: transport.Spec{Name: "direct", Addr: "198.51.100.1:443"}}
	srv, signer := servertest.StartWithBook(t, []reach.Entry{relay})
	var d net.Dialer
	f := &fakeClients{server: client.ServerLink{Key: srv.Link.Key, Addrs: srv.Link.Addrs}, dial: func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}}
	data, err := f.fetchBook(context.Background())
	if err != nil {
		t.Fatalf("fetchBook: %v", err)
	}
	book, err := reach.VerifyBook(data, signer.ServerID(), time.Now())
	if err != nil {
		t.Fatalf("the fake client's book does not verify: %v", err)
	}
	found := false
	for _, se := range book.Entries {
		found = found || se.Entry.ID == relay.ID
	}
	if !found {
		t.Fatalf("the book has no entry %q: %+v", relay.ID, book.Entries)
	}
}
