package sqlite

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestWhatTheServerKnowsMatchesSchema keeps docs/what-the-server-knows.md
// true: every table and column of the live schema is documented there, and
// nothing documented is missing from the schema.
func TestWhatTheServerKnowsMatchesSchema(t *testing.T) {
	documented := documentedSchema(t, filepath.Join("..", "..", "docs", "what-the-server-knows.md"))
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "doc.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	live := map[string][]string{}
	rows, err := s.read.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) == 0 {
		t.Fatal("live schema has no tables")
	}
	for _, table := range tables {
		cols, err := s.read.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			var name string
			if err := cols.Scan(&name); err != nil {
				t.Fatal(err)
			}
			live[table] = append(live[table], name)
		}
		cols.Close()
	}
	for table, cols := range live {
		doc, ok := documented[table]
		if !ok {
			t.Errorf("table %s is not in docs/what-the-server-knows.md; add a section saying what it holds, how long, and what it reveals", table)
			continue
		}
		for _, c := range cols {
			if !slices.Contains(doc, c) {
				t.Errorf("column %s.%s is not in docs/what-the-server-knows.md", table, c)
			}
		}
		for _, c := range doc {
			if !slices.Contains(cols, c) {
				t.Errorf("docs/what-the-server-knows.md lists %s.%s, which the schema does not have", table, c)
			}
		}
	}
	for table := range documented {
		if _, ok := live[table]; !ok {
			t.Errorf("docs/what-the-server-knows.md lists table %s, which the schema does not have", table)
		}
	}
}

var (
	tableHeading = regexp.MustCompile("^### `([a-z_]+)`")
	columnRow    = regexp.MustCompile("^\\| `([a-z_]+)` \\|")
)

// documentedSchema reads the "### `table`" sections and their "| `column` |" rows.
func documentedSchema(t *testing.T, path string) map[string][]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	table := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := tableHeading.FindStringSubmatch(line); m != nil {
			table = m[1]
			out[table] = nil
			continue
		}
		if strings.HasPrefix(line, "## ") {
			table = ""
		}
		if m := columnRow.FindStringSubmatch(line); m != nil && table != "" {
			out[table] = append(out[table], m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s documents no tables", path)
	}
	return out
}
