package client

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
)

// The tables of memEngine (store_mem.go), with the semantics of the SQLite
// queries in store_sqlite.go.

func (t *memTx) meta(k string) ([]byte, bool, error) {
	v, ok := t.e.d.meta[k]
	return v, ok, nil
}

func (t *memTx) setMeta(k string, v []byte) error {
	setMap(t, t.e.d.meta, k, bytes.Clone(v), false, "meta/"+k)
	return nil
}

func kvRec(ns string, k []byte) string { return "kv/" + hex.EncodeToString([]byte(kvKey(ns, k))) }

func (t *memTx) kvGet(ns string, k []byte) ([]byte, bool, error) {
	v, ok := t.e.d.kv[kvKey(ns, k)]
	return v, ok, nil
}

func (t *memTx) kvPut(ns string, k, v []byte) error {
	setMap(t, t.e.d.kv, kvKey(ns, k), bytes.Clone(v), false, kvRec(ns, k))
	return nil
}

func (t *memTx) kvDel(ns string, k []byte) error {
	if _, ok := t.e.d.kv[kvKey(ns, k)]; ok {
		setMap(t, t.e.d.kv, kvKey(ns, k), nil, true, kvRec(ns, k))
	}
	return nil
}

func (t *memTx) kvAll(ns string) ([][2][]byte, error) {
	prefix := ns + "\x00"
	var out [][2][]byte
	for k, v := range t.e.d.kv {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out = append(out, [2][]byte{[]byte(rest), v})
		}
	}
	slices.SortFunc(out, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
	return out, nil
}

func (t *memTx) markSeen(id []byte) (bool, error) {
	if t.e.d.seen[string(id)] {
		return false, nil
	}
	setMap(t, t.e.d.seen, string(id), true, false, "seen/"+hex.EncodeToString(id))
	return true, nil
}

func (t *memTx) addMessage(chat, v []byte) (int64, error) {
	id := t.nextID("messages")
	setMap(t, t.e.d.messages, id, &memMsg{Chat: bytes.Clone(chat), V: bytes.Clone(v)}, false, idKey("messages", id))
	return id, nil
}

func (t *memTx) message(id int64) (msgRow, bool, error) {
	m, ok := t.e.d.messages[id]
	if !ok {
		return msgRow{}, false, nil
	}
	return msgRow{id: id, chat: m.Chat, v: m.V, shown: m.Shown}, true, nil
}

// updateMessage replaces message id by a changed copy (so undo keeps the old).
func (t *memTx) updateMessage(id int64, change func(*memMsg)) {
	m, ok := t.e.d.messages[id]
	if !ok {
		return
	}
	n := *m
	change(&n)
	setMap(t, t.e.d.messages, id, &n, false, idKey("messages", id))
}

func (t *memTx) setMessage(id int64, v []byte) error {
	t.updateMessage(id, func(m *memMsg) { m.V = bytes.Clone(v) })
	return nil
}

func (t *memTx) messages(onlyNew bool) ([]msgRow, error) {
	var out []msgRow
	for _, id := range sortedIDs(t.e.d.messages) {
		m := t.e.d.messages[id]
		if !onlyNew || !m.Shown {
			out = append(out, msgRow{id: id, chat: m.Chat, v: m.V, shown: m.Shown})
		}
	}
	return out, nil
}

func (t *memTx) markShown(id int64) error {
	t.updateMessage(id, func(m *memMsg) { m.Shown = true })
	return nil
}

func (t *memTx) delMessages(chat []byte) error {
	for id, m := range t.e.d.messages {
		if bytes.Equal(m.Chat, chat) {
			setMap(t, t.e.d.messages, id, nil, true, idKey("messages", id))
		}
	}
	return nil
}

func (t *memTx) addOutbox(v []byte) (int64, error) {
	id := t.nextID("outbox")
	setMap(t, t.e.d.outbox, id, bytes.Clone(v), false, idKey("outbox", id))
	return id, nil
}

func (t *memTx) outbox() ([]outboxRow, error) {
	var out []outboxRow
	for _, id := range sortedIDs(t.e.d.outbox) {
		r := outboxRow{id: id, v: t.e.d.outbox[id]}
		if f, ok := t.e.d.failed[id]; ok {
			r.failed, r.failedAt, r.reason = true, f.At, f.Reason
		}
		out = append(out, r)
	}
	return out, nil
}

func (t *memTx) nextOutbox() (outboxRow, bool, error) {
	for _, id := range sortedIDs(t.e.d.outbox) {
		if _, failed := t.e.d.failed[id]; !failed {
			return outboxRow{id: id, v: t.e.d.outbox[id]}, true, nil
		}
	}
	return outboxRow{}, false, nil
}

func (t *memTx) countOutbox() (int, error) {
	n := 0
	for id := range t.e.d.outbox {
		if _, failed := t.e.d.failed[id]; !failed {
			n++
		}
	}
	return n, nil
}

func (t *memTx) failOutbox(id, at int64, reason []byte) error {
	setMap(t, t.e.d.failed, id, memFailed{At: at, Reason: bytes.Clone(reason)}, false, idKey("failed", id))
	return nil
}

func (t *memTx) delOutbox(id int64) (bool, error) {
	if _, ok := t.e.d.outbox[id]; !ok {
		return false, nil
	}
	setMap(t, t.e.d.outbox, id, nil, true, idKey("outbox", id))
	return true, nil
}

func (t *memTx) unfailOutbox(id int64) (int, error) {
	n := 0
	for fid := range t.e.d.failed {
		if id == 0 || fid == id {
			setMap(t, t.e.d.failed, fid, memFailed{}, true, idKey("failed", fid))
			n++
		}
	}
	return n, nil
}

func (t *memTx) dropOutbox(id int64) (int, error) {
	if id != 0 {
		ok, _ := t.delOutbox(id)
		t.unfailOutbox(id)
		if ok {
			return 1, nil
		}
		return 0, nil
	}
	n := 0
	for fid := range t.e.d.failed {
		if ok, _ := t.delOutbox(fid); ok {
			n++
		}
	}
	t.unfailOutbox(0)
	return n, nil
}

func (t *memTx) addPending(r pendingRow) error {
	id := t.nextID("pending")
	p := &memPending{Grp: bytes.Clone(r.grp), Epoch: r.epoch, Arrived: r.arrived, V: bytes.Clone(r.v)}
	setMap(t, t.e.d.pending, id, p, false, idKey("pending", id))
	return nil
}

func pendingRowOf(id int64, p *memPending) pendingRow {
	return pendingRow{id: id, grp: p.Grp, epoch: p.Epoch, arrived: p.Arrived, v: p.V}
}

func (t *memTx) nextPending(grp []byte, maxEpoch int64) (pendingRow, bool, error) {
	for _, id := range sortedIDs(t.e.d.pending) {
		p := t.e.d.pending[id]
		if bytes.Equal(p.Grp, grp) && p.Epoch <= maxEpoch {
			return pendingRowOf(id, p), true, nil
		}
	}
	return pendingRow{}, false, nil
}

func (t *memTx) delPending(id int64) error {
	if _, ok := t.e.d.pending[id]; ok {
		setMap(t, t.e.d.pending, id, nil, true, idKey("pending", id))
	}
	return nil
}

func (t *memTx) dropPendingBefore(grp []byte, epoch int64) error {
	for id, p := range t.e.d.pending {
		if bytes.Equal(p.Grp, grp) && p.Epoch < epoch {
			setMap(t, t.e.d.pending, id, nil, true, idKey("pending", id))
		}
	}
	return nil
}

func (t *memTx) countPending(grp []byte) (int, error) {
	rows, err := t.listPending(pendingFilter{grp: grp})
	return len(rows), err
}

func (t *memTx) listPending(f pendingFilter) ([]pendingRow, error) {
	var out []pendingRow
	for _, id := range sortedIDs(t.e.d.pending) {
		p := t.e.d.pending[id]
		if f.grp != nil && !bytes.Equal(p.Grp, f.grp) || f.arrivedBefore != 0 && p.Arrived >= f.arrivedBefore {
			continue
		}
		out = append(out, pendingRowOf(id, p))
		if f.limit > 0 && len(out) == f.limit {
			break
		}
	}
	return out, nil
}
