// Package channelwiretest runs a channel server for tests that need one
// to misbehave: it serves a channel from a channel.Cache over the wire
// protocol (channelwire.ServeFunc) on a free loopback port, and lets the
// test answer any request itself (a lying server or mirror).
package channelwiretest

import (
	"context"
	"net"
	"testing"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/channel/channelwire"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Serve serves the channel of descriptor with posts until ctx ends.
// answer, if not nil, is asked first: a nil answer from it leaves the
// request to channelwire.Answer on the cache. It returns the server's
// key and address.
func Serve(t testing.TB, ctx context.Context, descriptor []byte, posts [][]byte, answer func(wire.Message) wire.Message) (securechan.ServerPublic, string) {
	t.Helper()
	cache := channel.NewCache(len(posts)+1, 1)
	if _, err := cache.AddChannel(descriptor); err != nil {
		t.Fatal(err)
	}
	for _, p := range posts {
		if err := cache.Insert(p); err != nil {
			t.Fatal(err)
		}
	}
	return ServeFunc(t, ctx, func(m wire.Message) wire.Message {
		if answer != nil {
			if resp := answer(m); resp != nil {
				return resp
			}
		}
		return channelwire.Answer(cache, m)
	})
}

// ServeFunc answers every request with answer (channelwire.ServeFunc) on
// a free loopback port until ctx ends, and returns the key and address.
func ServeFunc(t testing.TB, ctx context.Context, answer func(wire.Message) wire.Message) (securechan.ServerPublic, string) {
	t.Helper()
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go channelwire.ServeFunc(ctx, ln, key, answer)
	return key.Public(), ln.Addr().String()
}
