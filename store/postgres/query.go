package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/samizdat-project/samizdat/store"
)

// pgDB is what the pool and a transaction share.
type pgDB interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// on is db for the queries both SQL stores share (store.SQL).
func (s *Store) on(db pgDB) store.SQL { return pgSQL(db, s.wrap) }

// wrapOp wraps a database error as "postgres: doing op", where there is no
// Store yet (migrations in Open).
func wrapOp(op string, err error) error { return fmt.Errorf("postgres: doing %s: %w", op, err) }

// pgSQL is db for the queries both SQL stores share, wrap wrapping its
// errors.
func pgSQL(db pgDB, wrap func(op string, err error) error) store.SQL {
	return store.SQL{
		Pkg: "postgres",
		QueryRow: func(ctx context.Context, query string, args ...any) store.Row {
			return db.QueryRow(ctx, numbered(query, len(args)), args...)
		},
		Each: func(ctx context.Context, query string, args []any, row func(store.Row) error) error {
			rows, err := db.Query(ctx, numbered(query, len(args)), args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			return store.EachRow(rows, func(r pgx.Rows) error { return row(r) })
		},
		Exec: func(ctx context.Context, query string, args ...any) error {
			_, err := db.Exec(ctx, numbered(query, len(args)), args...)
			return err
		},
		NoRows:  pgx.ErrNoRows,
		Wrap:    wrap,
		LockRow: " FOR UPDATE",
	}
}

// numbered writes the ? placeholders of a query of args arguments as
// PostgreSQL's $1, $2, … (the shared queries have no ? in a literal); a
// query without arguments, a migration say, is left as it is.
func numbered(query string, args int) string {
	if args == 0 {
		return query
	}
	var b strings.Builder
	n := 0
	for {
		i := strings.IndexByte(query, '?')
		if i < 0 {
			b.WriteString(query)
			return b.String()
		}
		n++
		b.WriteString(query[:i])
		b.WriteString("$" + strconv.Itoa(n))
		query = query[i+1:]
	}
}
