// Package sqlitetest opens a throwaway SQLite store for tests: a fresh
// database file in the test's temporary directory, closed when the test
// ends. The server, client, e2e and CLI tests open theirs through it (as
// they start PostgreSQL through store/postgres/pgtest). It is for tests
// only.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/samizdat-project/samizdat/store/sqlite"
)

// Open opens a store in a new file of t's temporary directory. It closes
// when the test ends, after whatever the test started later with its own
// cleanup (a server on it, say) has stopped: cleanups run last-in,
// first-out. Closing it earlier is harmless.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"), nil)
	if err != nil {
		t.Fatalf("sqlitetest: opening a store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
