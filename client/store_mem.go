package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// memEngine keeps the store's records in memory; persist (if set) writes
// each committed transaction's changed records to durable storage before
// commit returns (the browser's IndexedDB, store_idb_js.go). Transactions
// are serial, as on SQLite with its one connection: begin waits for the
// previous one to end. Records hold the same sealed bytes the SQLite
// store holds.
type memEngine struct {
	gate    chan struct{} // one token: held by the open transaction
	d       memData
	persist func(changes []memRecord) error
}

// memRecord is one changed record: Key names table and row; Value nil
// means deleted.
type memRecord struct {
	Key   string
	Value []byte
}

type memData struct {
	meta     map[string][]byte
	kv       map[string][]byte // ns \x00 k
	seen     map[string]bool
	messages map[int64]*memMsg
	outbox   map[int64][]byte
	failed   map[int64]memFailed
	pending  map[int64]*memPending
	seq      map[string]int64 // last id handed out per table (AUTOINCREMENT)
}

type memMsg struct {
	Chat  []byte `json:"chat"`
	Shown bool   `json:"shown"`
	V     []byte `json:"v"`
}

type memFailed struct {
	At     int64  `json:"at"`
	Reason []byte `json:"reason"`
}

type memPending struct {
	Grp     []byte `json:"grp"`
	Epoch   int64  `json:"epoch"`
	Arrived int64  `json:"arrived"`
	V       []byte `json:"v"`
}

func newMemEngine() *memEngine {
	e := &memEngine{gate: make(chan struct{}, 1)}
	e.d = memData{meta: map[string][]byte{}, kv: map[string][]byte{}, seen: map[string]bool{},
		messages: map[int64]*memMsg{}, outbox: map[int64][]byte{}, failed: map[int64]memFailed{},
		pending: map[int64]*memPending{}, seq: map[string]int64{}}
	e.gate <- struct{}{}
	return e
}

func (e *memEngine) close() error { return nil }

func (e *memEngine) begin(ctx context.Context) (engineTx, error) {
	select {
	case <-e.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &memTx{e: e, touched: map[string]bool{}}, nil
}

// memTx changes the engine's data in place and keeps an undo list.
type memTx struct {
	e       *memEngine
	undo    []func()
	touched map[string]bool // record keys changed (recordKey)
	done    bool
}

var errTxDone = errors.New("transaction already ended")

func (t *memTx) end() {
	if !t.done {
		t.done = true
		t.e.gate <- struct{}{}
	}
}

func (t *memTx) rollback() {
	if t.done {
		return
	}
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.end()
}

func (t *memTx) commit() error {
	if t.done {
		return errTxDone
	}
	if t.e.persist != nil && len(t.touched) > 0 {
		recs := make([]memRecord, 0, len(t.touched))
		for k := range t.touched {
			recs = append(recs, t.e.d.record(k))
		}
		slices.SortFunc(recs, func(a, b memRecord) int { return bytes.Compare([]byte(a.Key), []byte(b.Key)) })
		if err := t.e.persist(recs); err != nil {
			t.rollback()
			return err
		}
	}
	t.end()
	return nil
}

// setMap sets (or with del, deletes) m[k], noting the undo and the record.
func setMap[K comparable, V any](t *memTx, m map[K]V, k K, v V, del bool, rec string) {
	old, had := m[k]
	t.undo = append(t.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
	if del {
		delete(m, k)
	} else {
		m[k] = v
	}
	t.touched[rec] = true
}

// nextID hands out the next id of table, never one used before.
func (t *memTx) nextID(table string) int64 {
	id := t.e.d.seq[table] + 1
	setMap(t, t.e.d.seq, table, id, false, "seq/"+table)
	return id
}

func kvKey(ns string, k []byte) string { return ns + "\x00" + string(k) }

// Record keys: table "/" row key (hex for bytes, decimal for ids), so that
// they are valid IndexedDB string keys.
func idKey(table string, id int64) string { return table + "/" + strconv.FormatInt(id, 10) }

func (d *memData) record(key string) memRecord {
	table, k, _ := strings.Cut(key, "/")
	var v any
	var ok bool
	switch table {
	case "meta":
		v, ok = d.meta[k]
	case "kv":
		b, _ := hex.DecodeString(k)
		v, ok = d.kv[string(b)]
	case "seen":
		b, _ := hex.DecodeString(k)
		v, ok = true, d.seen[string(b)]
	case "seq":
		v, ok = d.seq[k]
	default:
		id, _ := strconv.ParseInt(k, 10, 64)
		v, ok = d.row(table, id)
	}
	if !ok {
		return memRecord{Key: key}
	}
	b, _ := json.Marshal(v)
	return memRecord{Key: key, Value: b}
}

func (d *memData) row(table string, id int64) (any, bool) {
	switch table {
	case "messages":
		return rowOf(d.messages, id)
	case "outbox":
		return rowOf(d.outbox, id)
	case "failed":
		return rowOf(d.failed, id)
	case "pending":
		return rowOf(d.pending, id)
	}
	return nil, false
}

// rowOf is m's row id as a record value (nil, false when there is none).
func rowOf[V any](m map[int64]V, id int64) (any, bool) {
	v, ok := m[id]
	if !ok {
		return nil, false
	}
	return v, true
}

// load puts one persisted record back (store_idb_js.go reads them all at
// open); a record that does not decode is an error: the store is damaged.
func (d *memData) load(r memRecord) error {
	table, k, _ := strings.Cut(r.Key, "/")
	var err error
	switch table {
	case "meta":
		var v []byte
		err = json.Unmarshal(r.Value, &v)
		d.meta[k] = v
	case "kv", "seen":
		b, herr := hex.DecodeString(k)
		if herr != nil {
			return herr
		}
		if table == "seen" {
			d.seen[string(b)] = true
			return nil
		}
		var v []byte
		err = json.Unmarshal(r.Value, &v)
		d.kv[string(b)] = v
	case "seq":
		var v int64
		err = json.Unmarshal(r.Value, &v)
		d.seq[k] = v
	default:
		err = d.loadRow(table, k, r.Value)
	}
	return err
}

func (d *memData) loadRow(table, k string, b []byte) error {
	id, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return err
	}
	switch table {
	case "messages":
		v := new(memMsg)
		err, d.messages[id] = json.Unmarshal(b, v), v
	case "outbox":
		var v []byte
		err = json.Unmarshal(b, &v)
		d.outbox[id] = v
	case "failed":
		var v memFailed
		err = json.Unmarshal(b, &v)
		d.failed[id] = v
	case "pending":
		v := new(memPending)
		err, d.pending[id] = json.Unmarshal(b, v), v
	default:
		err = errors.New("unknown table " + strconv.Quote(table))
	}
	return err
}

// sortedIDs returns the keys of m in order.
func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
