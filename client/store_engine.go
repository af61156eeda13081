package client

import "context"

// storeEngine keeps the records of the local store. It stores bytes the
// caller has already sealed (localstore.go seals and opens every value);
// it sees in clear only what the SQLite store always kept in clear: table
// keys, chat and group hashes, epochs, times and the meta records (the KDF
// parameters and the wrapped key). Two implementations exist: SQLite
// (store_sqlite.go, every platform but js/wasm, on-disk format of
// docs/architecture.md unchanged) and memEngine (store_mem.go), which the
// browser persists to IndexedDB (store_idb_js.go).
type storeEngine interface {
	begin(ctx context.Context) (engineTx, error)
	close() error
}

// msgRow is one stored message: its chat hash and sealed value.
type msgRow struct {
	id    int64
	chat  []byte
	v     []byte
	shown bool
}

// outboxRow is one outbox entry; failed says it was set aside (at
// failedAt, Unix seconds, for the sealed reason).
type outboxRow struct {
	id       int64
	v        []byte
	failed   bool
	failedAt int64
	reason   []byte
}

// pendingRow is one held message (localstore_pending.go).
type pendingRow struct {
	id      int64
	grp     []byte
	epoch   int64
	arrived int64
	v       []byte
}

// pendingFilter selects held messages: grp nil means every group,
// arrivedBefore 0 means any time, limit 0 means no limit. Rows come
// oldest (smallest id) first.
type pendingFilter struct {
	grp           []byte
	arrivedBefore int64
	limit         int
}

// engineTx is one transaction. Every method may be called after an error;
// commit reports failure, rollback undoes everything since begin.
type engineTx interface {
	commit() error
	rollback()

	meta(k string) (v []byte, ok bool, err error)
	setMeta(k string, v []byte) error

	kvGet(ns string, k []byte) (v []byte, ok bool, err error)
	kvPut(ns string, k, v []byte) error
	kvDel(ns string, k []byte) error
	// kvAll returns the entries of ns ordered by key as [k, v] pairs.
	kvAll(ns string) ([][2][]byte, error)
	// markSeen records id; it reports false if it was already recorded.
	markSeen(id []byte) (bool, error)

	addMessage(chat, v []byte) (int64, error)
	message(id int64) (msgRow, bool, error)
	setMessage(id int64, v []byte) error
	// messages lists every message (only the not yet shown ones if
	// onlyNew) by id.
	messages(onlyNew bool) ([]msgRow, error)
	markShown(id int64) error
	delMessages(chat []byte) error

	addOutbox(v []byte) (int64, error)
	// outbox lists every entry by id, failed ones included.
	outbox() ([]outboxRow, error)
	// nextOutbox returns the first entry not set aside; ok false if none.
	nextOutbox() (outboxRow, bool, error)
	countOutbox() (int, error)
	failOutbox(id, at int64, reason []byte) error
	delOutbox(id int64) (bool, error)
	// unfailOutbox puts failed entry id (0: all) back in line.
	unfailOutbox(id int64) (int, error)
	// dropOutbox deletes entry id, failed or not (0: every failed one).
	dropOutbox(id int64) (int, error)

	addPending(r pendingRow) error
	// nextPending returns the first held message of grp with epoch at
	// most maxEpoch.
	nextPending(grp []byte, maxEpoch int64) (pendingRow, bool, error)
	delPending(id int64) error
	dropPendingBefore(grp []byte, epoch int64) error
	countPending(grp []byte) (int, error)
	listPending(f pendingFilter) ([]pendingRow, error)
}

// StoreExists reports whether home holds a local store (on js/wasm: the
// browser holds one under that name).
func StoreExists(home string) bool { return hasStore(home) }
