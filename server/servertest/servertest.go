// Package servertest runs a real samizdat server for other packages'
// tests (client, e2e/adversary, mirror, loadgen): a real TCP listener on
// 127.0.0.1, a fresh key, a logger that discards, and no rate limits
// unless the test configures them.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
)

// Server is a running server.
type Server struct {
	Link server.Link // its key and its one address
	stop func()
}

// Start runs a server on a real SQLite store in the test's temporary
// directory until the test ends (or Stop); configure, if not nil, may
// change the configuration before the server is made.
func Start(t testing.TB, configure func(*server.Config)) *Server {
	t.Helper()
	st := sqlitetest.Open(t)
	cfg := server.Config{Store: st}
	if configure != nil {
		configure(&cfg)
	}
	key, addr, stop := serve(t, cfg, func() { st.Close() })
	return &Server{Link: server.Link{Key: key, Addrs: []string{addr}}, stop: stop}
}

// Stop ends the server and waits for it (a second call does nothing).
func (s *Server) Stop() { s.stop() }

// Serve starts a server with cfg on a free loopback port and stops it when
// the test ends, then runs stopped (closing the store, say). Unset, cfg's
// Key is a fresh one, its Logger discards, and its DrainTimeout is a
// second. It returns the server's public key and address.
func Serve(t testing.TB, cfg server.Config, stopped func()) (securechan.ServerPublic, string) {
	t.Helper()
	key, addr, _ := serve(t, cfg, stopped)
	return key, addr
}

func serve(t testing.TB, cfg server.Config, stopped func()) (securechan.ServerPublic, string, func()) {
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
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			if stopped != nil {
				stopped()
			}
		})
	}
	t.Cleanup(stop)
	return cfg.Key.Public(), ln.Addr().String(), stop
}
