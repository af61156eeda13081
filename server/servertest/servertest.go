// Package servertest runs a real server for other packages' tests: a real
// TCP listener on 127.0.0.1, a real SQLite store in the test's temporary
// directory, a fresh key, and no rate limits unless the test configures
// them.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite"
)

// Server is a running server.
type Server struct {
	Link server.Link // its key and its one address
	stop func()
}

// Start runs a server until the test ends (or Stop); configure, if not
// nil, may change the configuration before the server is made.
func Start(t testing.TB, configure func(*server.Config)) *Server {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Store: st, Key: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Second}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	s := &Server{Link: server.Link{Key: key.Public(), Addrs: []string{ln.Addr().String()}}}
	s.stop = func() { once.Do(func() { cancel(); <-done; st.Close() }) }
	t.Cleanup(s.stop)
	return s
}

// Stop ends the server and waits for it (a second call does nothing).
func (s *Server) Stop() { s.stop() }
