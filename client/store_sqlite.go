//go:build !js

package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"
)

const dbFile = "samizdat.db"

const schema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL, PRIMARY KEY (ns, k));
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, chat BLOB NOT NULL, shown INTEGER NOT NULL DEFAULT 0, v BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS messages_chat ON messages (chat, id);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_failed (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, reason BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS seen (msg_id BLOB PRIMARY KEY);
CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, grp BLOB NOT NULL, epoch INTEGER NOT NULL, arrived INTEGER NOT NULL, v BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS pending_grp ON pending (grp, epoch, id);
CREATE INDEX IF NOT EXISTS pending_arrived ON pending (arrived);
`

// sqliteEngine is the store of a home directory: HOME/samizdat.db.
type sqliteEngine struct{ db *sql.DB }

func storePath(home string) string { return filepath.Join(home, dbFile) }

// hasStore reports whether home holds a store file.
func hasStore(home string) bool {
	_, err := os.Stat(storePath(home))
	return err == nil
}

// openEngine opens (making it if needed) the SQLite store of home.
func openEngine(home string) (storeEngine, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("client: creating home directory: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	path := storePath(home)
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("client: opening local store: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("client: creating local store tables: %w", err)
	}
	os.Chmod(path, 0o600)
	return &sqliteEngine{db: db}, nil
}

func (e *sqliteEngine) close() error { return e.db.Close() }

func (e *sqliteEngine) begin(ctx context.Context) (engineTx, error) {
	t, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqliteTx{t: t}, nil
}

type sqliteTx struct{ t *sql.Tx }

func (s *sqliteTx) commit() error { return s.t.Commit() }
func (s *sqliteTx) rollback()     { s.t.Rollback() }

// row scans one row; ok false when there is none.
// queryAll runs q with args and decodes each row into a new T with scan.
func queryAll[T any](t *sql.Tx, q string, args []any, scan func(rows *sql.Rows, r *T) error) ([]T, error) {
	rows, err := t.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var r T
		if err := scan(rows, &r); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func row(err error) (bool, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (s *sqliteTx) meta(k string) ([]byte, bool, error) {
	var v []byte
	ok, err := row(s.t.QueryRow(`SELECT v FROM meta WHERE k = ?`, k).Scan(&v))
	return v, ok, err
}

func (s *sqliteTx) setMeta(k string, v []byte) error {
	_, err := s.t.Exec(`INSERT INTO meta (k, v) VALUES (?, ?)`, k, v)
	return err
}

func (s *sqliteTx) kvGet(ns string, k []byte) ([]byte, bool, error) {
	var v []byte
	ok, err := row(s.t.QueryRow(`SELECT v FROM kv WHERE ns = ? AND k = ?`, ns, k).Scan(&v))
	return v, ok, err
}

func (s *sqliteTx) kvPut(ns string, k, v []byte) error {
	_, err := s.t.Exec(`INSERT INTO kv (ns, k, v) VALUES (?, ?, ?) ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v`, ns, k, v)
	return err
}

func (s *sqliteTx) kvDel(ns string, k []byte) error {
	_, err := s.t.Exec(`DELETE FROM kv WHERE ns = ? AND k = ?`, ns, k)
	return err
}

func (s *sqliteTx) kvAll(ns string) ([][2][]byte, error) {
	return queryAll(s.t, `SELECT k, v FROM kv WHERE ns = ? ORDER BY k`, []any{ns}, func(rows *sql.Rows, e *[2][]byte) error {
		return rows.Scan(&e[0], &e[1])
	})
}

func (s *sqliteTx) markSeen(id []byte) (bool, error) {
	res, err := s.t.Exec(`INSERT INTO seen (msg_id) VALUES (?) ON CONFLICT DO NOTHING`, id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *sqliteTx) insert(q string, args ...any) (int64, error) {
	res, err := s.t.Exec(q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *sqliteTx) addMessage(chat, v []byte) (int64, error) {
	return s.insert(`INSERT INTO messages (chat, v) VALUES (?, ?)`, chat, v)
}

func (s *sqliteTx) message(id int64) (msgRow, bool, error) {
	r := msgRow{id: id}
	ok, err := row(s.t.QueryRow(`SELECT chat, v, shown FROM messages WHERE id = ?`, id).Scan(&r.chat, &r.v, &r.shown))
	return r, ok, err
}

func (s *sqliteTx) setMessage(id int64, v []byte) error {
	_, err := s.t.Exec(`UPDATE messages SET v = ? WHERE id = ?`, v, id)
	return err
}

func (s *sqliteTx) messages(onlyNew bool) ([]msgRow, error) {
	q := `SELECT id, chat, v, shown FROM messages`
	if onlyNew {
		q += ` WHERE shown = 0`
	}
	return queryAll(s.t, q+` ORDER BY id`, nil, func(rows *sql.Rows, r *msgRow) error {
		return rows.Scan(&r.id, &r.chat, &r.v, &r.shown)
	})
}

func (s *sqliteTx) markShown(id int64) error {
	_, err := s.t.Exec(`UPDATE messages SET shown = 1 WHERE id = ?`, id)
	return err
}

func (s *sqliteTx) delMessages(chat []byte) error {
	_, err := s.t.Exec(`DELETE FROM messages WHERE chat = ?`, chat)
	return err
}
