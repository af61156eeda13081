//go:build js && wasm

package client

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"syscall/js"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testenv"
)

// These run under Node with fake-indexeddb preloaded (.ci/run):
//
//	NODE_OPTIONS="--require fake-indexeddb/auto" GOOS=js GOARCH=wasm \
//	  go test -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec" ./client/
//
// and in the browser's real IndexedDB through webui's Chromium tests.

func requireIndexedDB(t *testing.T) {
	if js.Global().Get("indexedDB").IsUndefined() {
		testenv.Require(t, errors.New("no indexedDB global"), "an IndexedDB", "preload fake-indexeddb: NODE_OPTIONS=--require fake-indexeddb/auto")
	}
}

func freshHome() string { return "test-" + strconv.FormatInt(time.Now().UnixNano(), 36) }

func init() {
	testEngines["indexeddb"] = func(t *testing.T) (storeEngine, func() storeEngine) {
		requireIndexedDB(t)
		home := freshHome()
		return reopening(t, func() (storeEngine, error) { return openEngine(home) })
	}
}

// idbRecords reads every raw record of home's database.
func idbRecords(t *testing.T, home string) [][]byte {
	db, err := idbOpen(idbName(home))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Call("close")
	vals, err := idbAwait(db.Call("transaction", idbStore, "readonly").Call("objectStore", idbStore).Call("getAll"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range vals.Length() {
		b := make([]byte, vals.Index(i).Get("byteLength").Int())
		js.CopyBytesToGo(b, vals.Index(i))
		out = append(out, b)
	}
	return out
}

// TestAdversaryIndexedDBHoldsNoPlaintext: someone who reads the browser's
// IndexedDB sees neither a stored value nor the store key, and the wrong
// passphrase does not open it.
func TestAdversaryIndexedDBHoldsNoPlaintext(t *testing.T) {
	requireIndexedDB(t)
	home := freshHome()
	if hasStore(home) {
		t.Fatal("a fresh name already has a store")
	}
	s, err := createStore(home, []byte("correct horse"), LightKDF)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("the-secret-message-text")
	tx, _ := s.begin(context.Background())
	tx.put("self", []byte("keys"), string(secret))
	tx.addMessage([]byte("chat"), &Message{Text: string(secret)})
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
	s.close()
	recs := idbRecords(t, home)
	if len(recs) < 4 {
		t.Fatalf("%d records; want meta, kv, message and its sequence", len(recs))
	}
	for _, r := range recs {
		if bytes.Contains(r, secret) || bytes.Contains(r, []byte("correct horse")) {
			t.Fatalf("a record holds plaintext: %q", r)
		}
	}
	if !hasStore(home) {
		t.Fatal("hasStore false after create")
	}
	if _, err := openStore(home, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	s, err = openStore(home, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	tx, _ = s.begin(context.Background())
	defer tx.rollback()
	var got string
	if !tx.get("self", []byte("keys"), &got) || got != string(secret) {
		t.Fatalf("reopened value %q", got)
	}
}
