package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/samizdat-project/samizdat/store"
)

// sqlDB is what the read pool (*sql.DB) and the writer's connection
// (*sql.Conn) share.
type sqlDB interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// on is db for the queries both SQL stores share (store.SQL).
func on(db sqlDB) store.SQL {
	return store.SQL{
		Pkg: "store",
		QueryRow: func(ctx context.Context, query string, args ...any) store.Row {
			return db.QueryRowContext(ctx, query, args...)
		},
		Each: func(ctx context.Context, query string, args []any, row func(store.Row) error) error {
			rows, err := db.QueryContext(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			return store.EachRow(rows, func(r *sql.Rows) error { return row(r) })
		},
		Exec: func(ctx context.Context, query string, args ...any) error {
			_, err := db.ExecContext(ctx, query, args...)
			return err
		},
		NoRows: sql.ErrNoRows,
		Wrap:   func(op string, err error) error { return fmt.Errorf("store: doing %s: %w", op, err) },
	}
}
