package postgres

import "testing"

// TestNumbered: the shared queries' ? placeholders become $1, $2, … in
// order; a query without arguments is left alone.
func TestNumbered(t *testing.T) {
	for _, c := range []struct {
		in   string
		args int
		want string
	}{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, 2, `SELECT a FROM t WHERE x = $1 AND y = $2`},
		{`INSERT INTO t VALUES (?, ?, ?)`, 3, `INSERT INTO t VALUES ($1, $2, $3)`},
		{`?`, 1, `$1`},
		{`SELECT 1`, 0, `SELECT 1`},
		{`SELECT '?'`, 0, `SELECT '?'`}, // no arguments: nothing to number
	} {
		if got := numbered(c.in, c.args); got != c.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", c.in, c.args, got, c.want)
		}
	}
}
