package client

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
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

// localStore is the encrypted store of one home directory. Values of
// kv, messages, outbox and pending are sealed with key; meta holds only the KDF
// parameters and the wrapped key. The engine keeps the records
// (store_engine.go).
type localStore struct {
	eng  storeEngine
	aead interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
		NonceSize() int
		Overhead() int
	}
}

// createStore makes a new store in home with a fresh random store key
// wrapped under Argon2id(passphrase).
func createStore(home string, passphrase []byte, kdf KDFParams) (*localStore, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("client: empty passphrase; set SAMIZDAT_PASSPHRASE or pass --passphrase-file FILE")
	}
	eng, err := openEngine(home)
	if err != nil {
		return nil, err
	}
	tx, err := eng.begin(context.Background())
	if err != nil {
		eng.close()
		return nil, fmt.Errorf("client: reading local store: %w", err)
	}
	defer tx.rollback()
	if _, exists, err := tx.meta("wrapped_key"); err != nil || exists {
		eng.close()
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
	wrapKey := deriveWrapKey(passphrase, kdf)
	defer clear(wrapKey)
	wrapper, _ := chacha20poly1305.NewX(wrapKey)
	nonce := make([]byte, wrapper.NonceSize())
	rand.Read(nonce)
	wrapped := wrapper.Seal(nonce, nonce, storeKey, []byte("samizdat store key v1"))
	params, _ := json.Marshal(kdf)
	err = tx.setMeta("kdf", params)
	if err == nil {
		err = tx.setMeta("wrapped_key", wrapped)
	}
	if err == nil {
		err = tx.commit()
	}
	if err != nil {
		eng.close()
		return nil, fmt.Errorf("client: writing local store: %w", err)
	}
	aead, _ := chacha20poly1305.NewX(storeKey)
	return &localStore{eng: eng, aead: aead}, nil
}

// openStore opens the store of home, unwrapping its key with passphrase.
func openStore(home string, passphrase []byte) (*localStore, error) {
	if !hasStore(home) {
		return nil, ErrNoAccount
	}
	path := storePath(home)
	eng, err := openEngine(home)
	if err != nil {
		return nil, &DamagedStoreError{Path: path, Err: err} // errclass.go
	}
	params, wrapped, err := readKeyMeta(eng)
	if err != nil {
		eng.close()
		if errors.Is(err, ErrNoAccount) {
			return nil, err
		}
		return nil, &DamagedStoreError{Path: path, Err: err}
	}
	var kdf KDFParams
	if err := json.Unmarshal(params, &kdf); err != nil || kdf.Time == 0 || kdf.Memory == 0 || kdf.Threads == 0 || kdf.Memory > 4<<20 {
		eng.close()
		return nil, &DamagedStoreError{Path: path, Err: errors.New("its passphrase parameters are damaged")}
	}
	wrapKey := deriveWrapKey(passphrase, kdf)
	defer clear(wrapKey)
	wrapper, _ := chacha20poly1305.NewX(wrapKey)
	if len(wrapped) < wrapper.NonceSize() {
		eng.close()
		return nil, &DamagedStoreError{Path: path, Err: errors.New("its wrapped key is damaged")}
	}
	storeKey, err := wrapper.Open(nil, wrapped[:wrapper.NonceSize()], wrapped[wrapper.NonceSize():], []byte("samizdat store key v1"))
	if err != nil {
		eng.close()
		return nil, ErrWrongPassphrase
	}
	defer clear(storeKey)
	aead, _ := chacha20poly1305.NewX(storeKey)
	return &localStore{eng: eng, aead: aead}, nil
}

// readKeyMeta reads the KDF parameters and the wrapped key; ErrNoAccount
// if an init never finished.
func readKeyMeta(eng storeEngine) (params, wrapped []byte, err error) {
	tx, err := eng.begin(context.Background())
	if err != nil {
		return nil, nil, err
	}
	defer tx.rollback()
	params, ok, err := tx.meta("kdf")
	if err != nil {
		return nil, nil, err
	}
	wrapped, ok2, err := tx.meta("wrapped_key")
	if err != nil {
		return nil, nil, err
	}
	if !ok || !ok2 {
		return nil, nil, ErrNoAccount
	}
	return params, wrapped, nil
}

func (s *localStore) close() error { return s.eng.close() }

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
	t   engineTx
	err error
}

func (s *localStore) begin(ctx context.Context) (*tx, error) {
	t, err := s.eng.begin(ctx)
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
		t.t.rollback()
		return t.err
	}
	if err := t.t.commit(); err != nil {
		return fmt.Errorf("client: local store commit: %w", err)
	}
	return nil
}

func (t *tx) rollback() { t.t.rollback() }

// do runs fn in one engine transaction and commits it if fn succeeds.
func (s *localStore) do(ctx context.Context, fn func(engineTx) error) error {
	t, err := s.eng.begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(t); err != nil {
		t.rollback()
		return err
	}
	return t.commit()
}

// put seals v as JSON under (ns, k).
func (t *tx) put(ns string, k []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.fail(err)
		return
	}
	t.fail(t.t.kvPut(ns, k, t.s.seal(b, kvAD(ns, k))))
	clear(b)
}

// get opens (ns, k) into v; it reports whether the key exists.
func (t *tx) get(ns string, k []byte, v any) bool {
	sealed, ok, err := t.t.kvGet(ns, k)
	if err != nil {
		t.fail(err)
		return false
	}
	if !ok {
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

func (t *tx) del(ns string, k []byte) { t.fail(t.t.kvDel(ns, k)) }

// each calls fn with the key and opened value of every entry of ns.
func (t *tx) each(ns string, fn func(k, v []byte)) {
	all, err := t.t.kvAll(ns)
	if err != nil {
		t.fail(err)
		return
	}
	for _, e := range all {
		b, err := t.s.open(e[1], kvAD(ns, e[0]))
		if err != nil {
			t.fail(err)
			return
		}
		fn(e[0], b)
		clear(b)
	}
}

// markSeen records a delivered MsgID; it reports false if it was seen before.
func (t *tx) markSeen(id []byte) bool {
	fresh, err := t.t.markSeen(id)
	t.fail(err)
	return err == nil && fresh
}

func msgAD(chat []byte) []byte { return append([]byte("msg\x00"), chat...) }

// addMessage stores m in chat and returns its id.
func (t *tx) addMessage(chat []byte, m *Message) int64 {
	b, err := json.Marshal(m)
	if err != nil {
		t.fail(err)
		return 0
	}
	id, err := t.t.addMessage(chat, t.s.seal(b, msgAD(chat)))
	clear(b)
	t.fail(err)
	return id
}

// delMessages deletes every stored message of a chat.
func (t *tx) delMessages(chat []byte) { t.fail(t.t.delMessages(chat)) }

func (t *tx) addOutbox(e *outboxEntry) {
	b, err := json.Marshal(e)
	if err != nil {
		t.fail(err)
		return
	}
	_, err = t.t.addOutbox(t.s.seal(b, []byte("outbox")))
	t.fail(err)
}

// equalBytes compares secrets or keys in constant time.
func equalBytes(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// deriveWrapKey derives the key that wraps the store key from passphrase.
// Argon2 reads each block of its fresh allocation before it writes it, so
// every page of memory new to the process would fault twice, the second
// time (copy on write of the kernel's zero page) with a TLB flush on every
// core the process ran on: on the benchmark machine that tripled the
// unlock's time. So the Go heap is first made to hold as many mapped pages
// as Argon2 is about to allocate (kdf_linux.go), which it then reuses
// (docs/benchmarks.md, "Files, session 9").
func deriveWrapKey(passphrase []byte, kdf KDFParams) []byte {
	prefaultHeap(int(kdf.Memory) << 10)
	return argon2.IDKey(passphrase, kdf.Salt, kdf.Time, kdf.Memory, kdf.Threads, chacha20poly1305.KeySize)
}
