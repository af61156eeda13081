//go:build linux

package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/store/postgres/pgtest"
)

// The tests run their own throwaway PostgreSQL server (pgtest), one per
// test binary. Each test database is created by newTestDB and dropped when
// its test ends.

// testServer is the package's server; nil when skipReason says why not.
var (
	testServer *pgtest.Server
	skipReason string
	testDBs    atomic.Int64
)

func TestMain(m *testing.M) {
	srv, err := pgtest.Start(200)
	if err != nil {
		skipReason = err.Error()
	}
	testServer = srv
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

// admin runs one statement on the server's postgres database.
func admin(t testing.TB, sql string) {
	t.Helper()
	if err := testServer.Admin(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

// newTestDB creates a fresh database for t, dropped when t ends, and
// returns its DSN. Without a server it fails under CI and skips otherwise.
func newTestDB(t testing.TB) string {
	t.Helper()
	if testServer == nil {
		testenv.Require(t, errors.New(skipReason), "a PostgreSQL server", pgtest.Install)
	}
	name := fmt.Sprintf("samizdat_test_%d", testDBs.Add(1))
	admin(t, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin(t, "DROP DATABASE "+name+" WITH (FORCE)") })
	return testServer.DSN(name)
}
