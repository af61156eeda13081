package client

import (
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// The pending table holds messages that wait for their group or epoch
// (pending.go). The group hash, epoch and arrival time are in clear so
// that the table can be searched; the message itself is sealed, bound to
// its group and epoch.

// pendingID names one held message and its group.
type pendingID struct {
	id    int64
	group wire.GroupHash
}

func pendingAD(h wire.GroupHash, epoch uint64) []byte {
	ad := append([]byte("pending\x00"), h[:]...)
	return binary.BigEndian.AppendUint64(ad, epoch)
}

// addPending seals e under (h, epoch). epoch must fit in int64 (SQLite).
func (t *tx) addPending(h wire.GroupHash, epoch uint64, now time.Time, e *pendingEntry) {
	b, err := json.Marshal(e)
	if err != nil {
		t.fail(err)
		return
	}
	_, err = t.t.Exec(`INSERT INTO pending (grp, epoch, arrived, v) VALUES (?, ?, ?, ?)`,
		h[:], int64(epoch), now.Unix(), t.s.seal(b, pendingAD(h, epoch)))
	clear(b)
	t.fail(err)
}

// nextPending opens the earliest-arrived held message of h whose epoch is
// at most epoch. id is 0 when there is none; damaged reports a row that
// does not open (the caller deletes it).
func (t *tx) nextPending(h *wire.GroupHash, epoch uint64) (id int64, e *pendingEntry, damaged bool) {
	var ep int64
	var sealed []byte
	err := t.t.QueryRow(`SELECT id, epoch, v FROM pending WHERE grp = ? AND epoch <= ? ORDER BY id LIMIT 1`,
		h[:], int64(min(epoch, 1<<63-1))).Scan(&id, &ep, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false
	}
	if err != nil {
		t.fail(err)
		return 0, nil, false
	}
	b, err := t.s.open(sealed, pendingAD(*h, uint64(ep)))
	if err != nil {
		return id, nil, true
	}
	defer clear(b)
	e = new(pendingEntry)
	if json.Unmarshal(b, e) != nil || e.Epoch != uint64(ep) {
		return id, nil, true
	}
	return id, e, false
}

func (t *tx) delPending(id int64) {
	_, err := t.t.Exec(`DELETE FROM pending WHERE id = ?`, id)
	t.fail(err)
}

// dropPendingBefore deletes the held messages of h of epochs before epoch.
func (t *tx) dropPendingBefore(h *wire.GroupHash, epoch uint64) {
	_, err := t.t.Exec(`DELETE FROM pending WHERE grp = ? AND epoch < ?`, h[:], int64(min(epoch, 1<<63-1)))
	t.fail(err)
}

// countPending counts the held messages of h, or of every group if h is nil.
func (t *tx) countPending(h *wire.GroupHash) int {
	var n int
	var err error
	if h == nil {
		err = t.t.QueryRow(`SELECT count(*) FROM pending`).Scan(&n)
	} else {
		err = t.t.QueryRow(`SELECT count(*) FROM pending WHERE grp = ?`, h[:]).Scan(&n)
	}
	t.fail(err)
	return n
}

// oldestPending returns the n earliest-arrived held messages of h (of
// every group if h is nil).
func (t *tx) oldestPending(h *wire.GroupHash, n int) []pendingID {
	if h == nil {
		return t.queryPending(`SELECT id, grp FROM pending ORDER BY id LIMIT ?`, n)
	}
	return t.queryPending(`SELECT id, grp FROM pending WHERE grp = ? ORDER BY id LIMIT ?`, h[:], n)
}

// pendingOf returns every held message of h.
func (t *tx) pendingOf(h *wire.GroupHash) []pendingID {
	return t.queryPending(`SELECT id, grp FROM pending WHERE grp = ? ORDER BY id`, h[:])
}

// pendingBefore returns the held messages that arrived before cutoff.
func (t *tx) pendingBefore(cutoff time.Time) []pendingID {
	return t.queryPending(`SELECT id, grp FROM pending WHERE arrived < ? ORDER BY id`, cutoff.Unix())
}

func (t *tx) queryPending(q string, args ...any) []pendingID {
	rows, err := t.t.Query(q, args...)
	if err != nil {
		t.fail(err)
		return nil
	}
	defer rows.Close()
	var out []pendingID
	for rows.Next() {
		var p pendingID
		var g []byte
		if err := rows.Scan(&p.id, &g); err != nil {
			t.fail(err)
			return nil
		}
		copy(p.group[:], g)
		out = append(out, p)
	}
	t.fail(rows.Err())
	return out
}
