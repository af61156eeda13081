package client

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	_ "modernc.org/sqlite"
)

// ErrWrongPassphrase: the passphrase (or key file) does not open the store.
var ErrWrongPassphrase = errors.New("client: wrong passphrase: this home directory was created with another passphrase or key file; check SAMIZDAT_PASSPHRASE or --passphrase-file")

// ErrNoAccount: the home directory holds no account yet.
var ErrNoAccount = errors.New("client: no account in this home directory; run 'samizdat init --server LINK' first")

// ErrAccountExists: Init on a home directory that already has an account.
var ErrAccountExists = errors.New("client: this home directory already holds an account; use another --home to make a second one")

// KDFParams are the Argon2id parameters that derive the key-wrapping key
// from the passphrase. They are stored in clear beside the wrapped key.
type KDFParams struct {
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory_kib"`
	Threads uint8  `json:"threads"`
	Salt    []byte `json:"salt"`
}

// DefaultKDF is the production cost: 64 MiB, 2 passes (RFC 9106 §4's second
// recommended option uses 64 MiB and 3 passes; 2 keeps the CLI snappy).
var DefaultKDF = KDFParams{Time: 2, Memory: 64 * 1024, Threads: 4}

// LightKDF is for tests and the demo only.
var LightKDF = KDFParams{Time: 1, Memory: 8 * 1024, Threads: 1}

const dbFile = "samizdat.db"

// localStore is the encrypted SQLite store of one home directory. Values of
// kv, messages, outbox and pending are sealed with key; meta holds only the KDF
// parameters and the wrapped key.
type localStore struct {
	db   *sql.DB
	aead interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
		NonceSize() int
		Overhead() int
	}
}

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

func openDB(home string) (*sql.DB, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("client: creating home directory: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	path := filepath.Join(home, dbFile)
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
	return db, nil
}

// hasStore reports whether home holds a store with a wrapped key.
func hasStore(home string) bool {
	_, err := os.Stat(filepath.Join(home, dbFile))
	return err == nil
}

// createStore makes a new store in home with a fresh random store key
// wrapped under Argon2id(passphrase).
func createStore(home string, passphrase []byte, kdf KDFParams) (*localStore, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("client: empty passphrase; set SAMIZDAT_PASSPHRASE or pass --passphrase-file FILE")
	}
	db, err := openDB(home)
	if err != nil {
		return nil, err
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM meta WHERE k = 'wrapped_key'`).Scan(&n); err != nil || n > 0 {
		db.Close()
		if err != nil {
			return nil, fmt.Errorf("client: reading local store: %w", err)
		}
		return nil, ErrAccountExists
	}
	kdf.Salt = make([]byte, 16)
	rand.Read(kdf.Salt)
	storeKey := make([]byte, chacha20poly1305.KeySize)
	rand.Read(storeKey)
	defer clear(storeKey)
	wrapKey := argon2.IDKey(passphrase, kdf.Salt, kdf.Time, kdf.Memory, kdf.Threads, chacha20poly1305.KeySize)
	defer clear(wrapKey)
	wrapper, _ := chacha20poly1305.NewX(wrapKey)
	nonce := make([]byte, wrapper.NonceSize())
	rand.Read(nonce)
	wrapped := wrapper.Seal(nonce, nonce, storeKey, []byte("samizdat store key v1"))
	params, _ := json.Marshal(kdf)
	tx, err := db.Begin()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("client: writing local store: %w", err)
	}
	tx.Exec(`INSERT INTO meta (k, v) VALUES ('kdf', ?)`, params)
	tx.Exec(`INSERT INTO meta (k, v) VALUES ('wrapped_key', ?)`, wrapped)
	if err := tx.Commit(); err != nil {
		db.Close()
		return nil, fmt.Errorf("client: writing local store: %w", err)
	}
	aead, _ := chacha20poly1305.NewX(storeKey)
	return &localStore{db: db, aead: aead}, nil
}

// openStore opens the store of home, unwrapping its key with passphrase.
func openStore(home string, passphrase []byte) (*localStore, error) {
	if !hasStore(home) {
		return nil, ErrNoAccount
	}
	path := filepath.Join(home, dbFile)
	db, err := openDB(home)
	if err != nil {
		return nil, &DamagedStoreError{Path: path, Err: err} // errclass.go
	}
	var params, wrapped []byte
	for _, m := range []struct {
		k string
		v *[]byte
	}{{"kdf", &params}, {"wrapped_key", &wrapped}} {
		if err := db.QueryRow(`SELECT v FROM meta WHERE k = ?`, m.k).Scan(m.v); err != nil {
			db.Close()
			if errors.Is(err, sql.ErrNoRows) {
				return nil, ErrNoAccount // an init that never finished
			}
			return nil, &DamagedStoreError{Path: path, Err: err}
		}
	}
	var kdf KDFParams
	if err := json.Unmarshal(params, &kdf); err != nil || kdf.Time == 0 || kdf.Memory == 0 || kdf.Threads == 0 || kdf.Memory > 4<<20 {
		db.Close()
		return nil, &DamagedStoreError{Path: path, Err: errors.New("its passphrase parameters are damaged")}
	}
	wrapKey := argon2.IDKey(passphrase, kdf.Salt, kdf.Time, kdf.Memory, kdf.Threads, chacha20poly1305.KeySize)
	defer clear(wrapKey)
	wrapper, _ := chacha20poly1305.NewX(wrapKey)
	if len(wrapped) < wrapper.NonceSize() {
		db.Close()
		return nil, &DamagedStoreError{Path: path, Err: errors.New("its wrapped key is damaged")}
	}
	storeKey, err := wrapper.Open(nil, wrapped[:wrapper.NonceSize()], wrapped[wrapper.NonceSize():], []byte("samizdat store key v1"))
	if err != nil {
		db.Close()
		return nil, ErrWrongPassphrase
	}
	defer clear(storeKey)
	aead, _ := chacha20poly1305.NewX(storeKey)
	return &localStore{db: db, aead: aead}, nil
}

func (s *localStore) close() error { return s.db.Close() }

func (s *localStore) seal(plain, ad []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, ad)
}

func (s *localStore) open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("client: local store value is damaged")
	}
	p, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, errors.New("client: local store value is damaged or was moved")
	}
	return p, nil
}

func kvAD(ns string, k []byte) []byte { return append([]byte("kv\x00"+ns+"\x00"), k...) }

// tx is one local-store transaction. Methods record the first error; commit
// returns it.
type tx struct {
	s   *localStore
	t   *sql.Tx
	err error
}

func (s *localStore) begin(ctx context.Context) (*tx, error) {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("client: local store: %w", err)
	}
	return &tx{s: s, t: t}, nil
}

func (t *tx) fail(err error) {
	if t.err == nil && err != nil {
		t.err = fmt.Errorf("client: local store: %w", err)
	}
}

func (t *tx) commit() error {
	if t.err != nil {
		t.t.Rollback()
		return t.err
	}
	if err := t.t.Commit(); err != nil {
		return fmt.Errorf("client: local store commit: %w", err)
	}
	return nil
}

func (t *tx) rollback() { t.t.Rollback() }

// put seals v as JSON under (ns, k).
func (t *tx) put(ns string, k []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.fail(err)
		return
	}
	_, err = t.t.Exec(`INSERT INTO kv (ns, k, v) VALUES (?, ?, ?) ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v`,
		ns, k, t.s.seal(b, kvAD(ns, k)))
	clear(b)
	t.fail(err)
}

// get opens (ns, k) into v; it reports whether the key exists.
func (t *tx) get(ns string, k []byte, v any) bool {
	var sealed []byte
	err := t.t.QueryRow(`SELECT v FROM kv WHERE ns = ? AND k = ?`, ns, k).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return false
	}
	if err != nil {
		t.fail(err)
		return false
	}
	b, err := t.s.open(sealed, kvAD(ns, k))
	if err != nil {
		t.fail(err)
		return false
	}
	defer clear(b)
	t.fail(json.Unmarshal(b, v))
	return t.err == nil
}

func (t *tx) del(ns string, k []byte) {
	_, err := t.t.Exec(`DELETE FROM kv WHERE ns = ? AND k = ?`, ns, k)
	t.fail(err)
}

// each calls fn with the key and opened value of every entry of ns.
func (t *tx) each(ns string, fn func(k, v []byte)) {
	rows, err := t.t.Query(`SELECT k, v FROM kv WHERE ns = ? ORDER BY k`, ns)
	if err != nil {
		t.fail(err)
		return
	}
	type kv struct{ k, v []byte }
	var all []kv
	for rows.Next() {
		var e kv
		if err := rows.Scan(&e.k, &e.v); err != nil {
			t.fail(err)
			break
		}
		all = append(all, e)
	}
	rows.Close()
	for _, e := range all {
		b, err := t.s.open(e.v, kvAD(ns, e.k))
		if err != nil {
			t.fail(err)
			return
		}
		fn(e.k, b)
		clear(b)
	}
}

// markSeen records a delivered MsgID; it reports false if it was seen before.
func (t *tx) markSeen(id []byte) bool {
	res, err := t.t.Exec(`INSERT INTO seen (msg_id) VALUES (?) ON CONFLICT DO NOTHING`, id)
	if err != nil {
		t.fail(err)
		return false
	}
	n, _ := res.RowsAffected()
	return n == 1
}

func (t *tx) addMessage(chat []byte, m *Message) {
	b, err := json.Marshal(m)
	if err != nil {
		t.fail(err)
		return
	}
	_, err = t.t.Exec(`INSERT INTO messages (chat, v) VALUES (?, ?)`, chat, t.s.seal(b, append([]byte("msg\x00"), chat...)))
	clear(b)
	t.fail(err)
}

// delMessages deletes every stored message of a chat.
func (t *tx) delMessages(chat []byte) {
	_, err := t.t.Exec(`DELETE FROM messages WHERE chat = ?`, chat)
	t.fail(err)
}

func (t *tx) addOutbox(e *outboxEntry) {
	b, err := json.Marshal(e)
	if err != nil {
		t.fail(err)
		return
	}
	_, err = t.t.Exec(`INSERT INTO outbox (v) VALUES (?)`, t.s.seal(b, []byte("outbox")))
	t.fail(err)
}

// equalBytes compares secrets or keys in constant time.
func equalBytes(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
