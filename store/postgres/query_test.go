package postgres

import "testing"

// TestNumbered: the shared queries' ? placeholders become $1, $2, … in
// order; a query without any is left alone.
func TestNumbered(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT a FROM t WHERE x = ? AND y = ?`: `SELECT a FROM t WHERE x = $1 AND y = $2`,
		`INSERT INTO t VALUES (?, ?, ?)`:        `INSERT INTO t VALUES ($1, $2, $3)`,
		`SELECT 1`:                              `SELECT 1`,
		`?`:                                     `$1`,
	} {
		if got := numbered(in); got != want {
			t.Errorf("numbered(%q) = %q, want %q", in, got, want)
		}
	}
}
