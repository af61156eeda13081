//go:build js && wasm

package client

import (
	"errors"
	"fmt"
	"syscall/js"
)

// The browser's store: a memEngine (store_mem.go) whose records live in
// one IndexedDB object store. Open reads every record into memory; each
// commit writes the records it changed in one IndexedDB readwrite
// transaction and returns only when that transaction completes, so a
// commit that returned is durable as on SQLite. The records are the same
// sealed bytes the SQLite store holds; in clear are only the KDF
// parameters, the wrapped key and the keys and hashes SQLite keeps in
// clear too. The home directory names the database: "samizdat:" + home.

const idbStore = "records"

// storePath names the store in messages (DamagedStoreError).
func storePath(home string) string { return "IndexedDB database " + idbName(home) }

func idbName(home string) string { return "samizdat:" + home }

// hasStore reports whether the browser holds a store for home.
func hasStore(home string) bool {
	db, err := idbOpen(idbName(home))
	if err != nil {
		return false
	}
	defer db.Call("close")
	t := db.Call("transaction", idbStore, "readonly")
	n, err := idbAwait(t.Call("objectStore", idbStore).Call("count"))
	return err == nil && n.Int() > 0
}

type idbEngine struct {
	*memEngine
	db js.Value
}

func (e *idbEngine) close() error {
	e.db.Call("close")
	return nil
}

// openEngine opens (making it if needed) the store of home and loads it.
func openEngine(home string) (storeEngine, error) {
	db, err := idbOpen(idbName(home))
	if err != nil {
		return nil, err
	}
	e := &idbEngine{memEngine: newMemEngine(), db: db}
	if err := e.loadAll(); err != nil {
		db.Call("close")
		return nil, err
	}
	e.persist = e.write
	return e, nil
}

func (e *idbEngine) loadAll() error {
	t := e.db.Call("transaction", idbStore, "readonly")
	st := t.Call("objectStore", idbStore)
	keys, err := idbAwait(st.Call("getAllKeys"))
	if err != nil {
		return fmt.Errorf("client: reading the browser's store: %w", err)
	}
	vals, err := idbAwait(st.Call("getAll"))
	if err != nil {
		return fmt.Errorf("client: reading the browser's store: %w", err)
	}
	if keys.Length() != vals.Length() {
		return errors.New("client: the browser's store changed while it was read")
	}
	for i := range keys.Length() {
		v := vals.Index(i)
		if v.Type() != js.TypeObject || v.Get("byteLength").Type() != js.TypeNumber {
			return fmt.Errorf("client: record %q of the browser's store is not bytes", keys.Index(i).String())
		}
		b := make([]byte, v.Get("byteLength").Int())
		js.CopyBytesToGo(b, v)
		if err := e.d.load(memRecord{Key: keys.Index(i).String(), Value: b}); err != nil {
			return fmt.Errorf("client: record %q of the browser's store: %w", keys.Index(i).String(), err)
		}
	}
	return nil
}

// write stores recs in one IndexedDB transaction and waits for it.
func (e *idbEngine) write(recs []memRecord) error {
	t := e.db.Call("transaction", idbStore, "readwrite", map[string]any{"durability": "strict"})
	st := t.Call("objectStore", idbStore)
	for _, r := range recs {
		if r.Value == nil {
			st.Call("delete", r.Key)
			continue
		}
		a := js.Global().Get("Uint8Array").New(len(r.Value))
		js.CopyBytesToJS(a, r.Value)
		st.Call("put", a, r.Key)
	}
	return idbDone(t)
}

// idbOpen opens database name, creating its object store on first use.
func idbOpen(name string) (js.Value, error) {
	idb := js.Global().Get("indexedDB")
	if idb.IsUndefined() || idb.IsNull() {
		return js.Value{}, errors.New("client: this browser has no IndexedDB (a private window may disable it); use a normal window")
	}
	req := idb.Call("open", name, 1)
	upgrade := js.FuncOf(func(this js.Value, args []js.Value) any {
		db := req.Get("result")
		if !db.Get("objectStoreNames").Call("contains", idbStore).Bool() {
			db.Call("createObjectStore", idbStore)
		}
		return nil
	})
	defer upgrade.Release()
	req.Set("onupgradeneeded", upgrade)
	db, err := idbAwait(req)
	if err != nil {
		return js.Value{}, fmt.Errorf("client: opening the browser's store: %w", err)
	}
	return db, nil
}

// idbAwait waits for an IDBRequest and returns its result.
func idbAwait(req js.Value) (js.Value, error) {
	if err := idbWait(req, "onsuccess", "onerror", "onblocked"); err != nil {
		return js.Value{}, err
	}
	return req.Get("result"), nil
}

// idbDone waits for an IDBTransaction to complete.
func idbDone(t js.Value) error {
	if err := idbWait(t, "oncomplete", "onerror", "onabort"); err != nil {
		return fmt.Errorf("client: writing the browser's store: %w", err)
	}
	return nil
}

// idbWait sets target's ok handler and its failure handlers and waits
// for the first to fire.
func idbWait(target js.Value, ok string, bad ...string) error {
	done := make(chan error, 1)
	okFn := js.FuncOf(func(js.Value, []js.Value) any { signal(done, nil); return nil })
	badFn := js.FuncOf(func(js.Value, []js.Value) any { signal(done, idbError(target.Get("error"))); return nil })
	defer okFn.Release()
	defer badFn.Release()
	target.Set(ok, okFn)
	for _, b := range bad {
		target.Set(b, badFn)
	}
	return <-done
}

func idbError(e js.Value) error {
	if e.IsNull() || e.IsUndefined() {
		return errors.New("IndexedDB request failed (blocked by another tab?)")
	}
	return errors.New(e.Get("name").String() + ": " + e.Get("message").String())
}

// signal sends the first outcome; later ones (an error then an abort)
// are dropped: a JS callback must never block.
func signal(done chan error, err error) {
	select {
	case done <- err:
	default:
	}
}
