// Package servertest runs a real samizdat server on a loopback port, for
// the tests of the packages that talk to one (client, e2e/adversary).
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
)

// Serve starts a server with cfg on a free loopback port and stops it when
// the test ends, then runs stopped (closing the store, say). Unset, cfg's
// Key is a fresh one, its Logger discards, and its DrainTimeout is a
// second. It returns the server's public key and address.
func Serve(t testing.TB, cfg server.Config, stopped func()) (securechan.ServerPublic, string) {
	t.Helper()
	if cfg.Key == nil {
		key, err := securechan.GenerateServerKey(nil)
		if err != nil {
			t.Fatalf("servertest: generating the server key: %v", err)
		}
		cfg.Key = key
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = time.Second
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: listening: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if stopped != nil {
			stopped()
		}
	})
	return cfg.Key.Public(), ln.Addr().String()
}
