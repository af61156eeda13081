package client

import (
	"encoding/binary"
	"encoding/json"
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
	err = t.t.addPending(pendingRow{grp: h[:], epoch: int64(epoch), arrived: now.Unix(), v: t.s.seal(b, pendingAD(h, epoch))})
	clear(b)
	t.fail(err)
}

// nextPending opens the earliest-arrived held message of h whose epoch is
// at most epoch. id is 0 when there is none; damaged reports a row that
// does not open (the caller deletes it).
func (t *tx) nextPending(h *wire.GroupHash, epoch uint64) (id int64, e *pendingEntry, damaged bool) {
	r, ok, err := t.t.nextPending(h[:], int64(min(epoch, 1<<63-1)))
	if err != nil {
		t.fail(err)
		return 0, nil, false
	}
	if !ok {
		return 0, nil, false
	}
	id, ep, sealed := r.id, r.epoch, r.v
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
	t.fail(t.t.delPending(id))
}

// dropPendingBefore deletes the held messages of h of epochs before epoch.
func (t *tx) dropPendingBefore(h *wire.GroupHash, epoch uint64) {
	t.fail(t.t.dropPendingBefore(h[:], int64(min(epoch, 1<<63-1))))
}

// countPending counts the held messages of h, or of every group if h is nil.
func (t *tx) countPending(h *wire.GroupHash) int {
	var grp []byte
	if h != nil {
		grp = h[:]
	}
	n, err := t.t.countPending(grp)
	t.fail(err)
	return n
}

// oldestPending returns the n earliest-arrived held messages of h (of
// every group if h is nil).
func (t *tx) oldestPending(h *wire.GroupHash, n int) []pendingID {
	f := pendingFilter{limit: n}
	if h != nil {
		f.grp = h[:]
	}
	return t.queryPending(f)
}

// pendingOf returns every held message of h.
func (t *tx) pendingOf(h *wire.GroupHash) []pendingID {
	return t.queryPending(pendingFilter{grp: h[:]})
}

// pendingBefore returns the held messages that arrived before cutoff.
func (t *tx) pendingBefore(cutoff time.Time) []pendingID {
	return t.queryPending(pendingFilter{arrivedBefore: cutoff.Unix()})
}

func (t *tx) queryPending(f pendingFilter) []pendingID {
	rows, err := t.t.listPending(f)
	if err != nil {
		t.fail(err)
		return nil
	}
	out := make([]pendingID, 0, len(rows))
	for _, r := range rows {
		p := pendingID{id: r.id}
		copy(p.group[:], r.grp)
		out = append(out, p)
	}
	return out
}
