package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// testEngines are the storeEngine implementations the conformance test
// runs against; each returns a fresh engine and a reopen function that
// gives the same store as a new engine (what a restart sees).
var testEngines = map[string]func(t *testing.T) (storeEngine, func() storeEngine){
	"mem-persisted": newPersistedMem,
}

// newPersistedMem is a memEngine persisted to a map, the way the browser
// persists it to IndexedDB.
func newPersistedMem(t *testing.T) (storeEngine, func() storeEngine) {
	disk := map[string][]byte{}
	mk := func() storeEngine {
		e := newMemEngine()
		for k, v := range disk {
			if err := e.d.load(memRecord{Key: k, Value: v}); err != nil {
				t.Fatalf("reloading %q: %v", k, err)
			}
		}
		e.persist = func(recs []memRecord) error {
			for _, r := range recs {
				if r.Value == nil {
					delete(disk, r.Key)
				} else {
					disk[r.Key] = bytes.Clone(r.Value)
				}
			}
			return nil
		}
		return e
	}
	return mk(), mk
}

// reopening opens an engine with open and returns it and a reopen.
func reopening(t *testing.T, open func() (storeEngine, error)) (storeEngine, func() storeEngine) {
	mk := func() storeEngine {
		e, err := open()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	return mk(), mk
}

func TestStoreEngineConformance(t *testing.T) {
	for name, mk := range testEngines {
		t.Run(name, func(t *testing.T) {
			e, reopen := mk(t)
			checkEngine(t, e, reopen)
		})
	}
}

// inTx runs fn in a committed transaction of e.
func inTx(t *testing.T, e storeEngine, fn func(engineTx) error) {
	t.Helper()
	tx, err := e.begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(tx); err != nil {
		tx.rollback()
		t.Fatal(err)
	}
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
}

func checkEngine(t *testing.T, e storeEngine, reopen func() storeEngine) {
	ctx := context.Background()
	g1, g2 := []byte("group-1"), []byte("group-2")
	inTx(t, e, func(tx engineTx) error {
		tx.setMeta("kdf", []byte("params"))
		tx.kvPut("ns", []byte("b"), []byte("vb"))
		tx.kvPut("ns", []byte("a"), []byte("va"))
		tx.kvPut("other", []byte("a"), []byte("x"))
		tx.kvPut("ns", []byte("a"), []byte("va2"))
		if fresh, _ := tx.markSeen([]byte("m1")); !fresh {
			return errors.New("first markSeen not fresh")
		}
		if fresh, _ := tx.markSeen([]byte("m1")); fresh {
			return errors.New("second markSeen fresh")
		}
		for i := range 3 {
			tx.addMessage([]byte("chat"), []byte{byte(i)})
		}
		tx.addMessage([]byte("chat2"), []byte("z"))
		for i := range 3 {
			tx.addOutbox([]byte{byte(i)})
		}
		tx.addPending(pendingRow{grp: g1, epoch: 5, arrived: 100, v: []byte("p1")})
		tx.addPending(pendingRow{grp: g2, epoch: 1, arrived: 50, v: []byte("p2")})
		return tx.addPending(pendingRow{grp: g1, epoch: 2, arrived: 200, v: []byte("p3")})
	})
	// A rolled back transaction leaves nothing.
	tx, _ := e.begin(ctx)
	tx.kvPut("ns", []byte("c"), []byte("rolled back"))
	tx.addMessage([]byte("chat"), []byte("rolled back"))
	tx.kvDel("ns", []byte("a"))
	tx.rollback()

	for round, eng := range []storeEngine{e, nil} {
		if eng == nil {
			e.close()
			eng = reopen()
			e = eng
		}
		inTx(t, eng, func(tx engineTx) error { return checkContents(tx, g1, g2, round) })
	}
	checkQueues(t, e, g1)
	if id := addOne(t, e); id != 5 {
		t.Fatalf("a message after deletes got id %d, want 5 (ids are never reused)", id)
	}
}

func addOne(t *testing.T, e storeEngine) (id int64) {
	inTx(t, e, func(tx engineTx) (err error) {
		id, err = tx.addMessage([]byte("chat"), []byte("new"))
		return err
	})
	return id
}

func checkContents(tx engineTx, g1, g2 []byte, round int) error {
	if v, ok, _ := tx.meta("kdf"); !ok || string(v) != "params" {
		return fmt.Errorf("round %d: meta %q %v", round, v, ok)
	}
	all, _ := tx.kvAll("ns")
	if len(all) != 2 || string(all[0][0]) != "a" || string(all[0][1]) != "va2" || string(all[1][0]) != "b" {
		return fmt.Errorf("round %d: kvAll %q", round, all)
	}
	if fresh, _ := tx.markSeen([]byte("m1")); fresh {
		return fmt.Errorf("round %d: seen forgotten", round)
	}
	msgs, _ := tx.messages(false)
	if len(msgs) != 4 || msgs[0].id != 1 || msgs[3].id != 4 || string(msgs[3].chat) != "chat2" {
		return fmt.Errorf("round %d: messages %+v", round, msgs)
	}
	if _, ok, _ := tx.message(5); ok {
		return fmt.Errorf("round %d: rolled back message is there", round)
	}
	p, ok, _ := tx.nextPending(g1, 3)
	if !ok || string(p.v) != "p3" || p.epoch != 2 {
		return fmt.Errorf("round %d: nextPending %+v %v", round, p, ok)
	}
	if n, _ := tx.countPending(nil); n != 3 {
		return fmt.Errorf("round %d: countPending(nil) %d", round, n)
	}
	old, _ := tx.listPending(pendingFilter{arrivedBefore: 150})
	if len(old) != 2 || old[0].id != 1 || old[1].id != 2 {
		return fmt.Errorf("round %d: pending before 150: %+v", round, old)
	}
	lim, _ := tx.listPending(pendingFilter{grp: g1, limit: 1})
	if len(lim) != 1 || lim[0].id != 1 {
		return fmt.Errorf("round %d: oldest of g1: %+v", round, lim)
	}
	return nil
}

func checkQueues(t *testing.T, e storeEngine, g1 []byte) {
	inTx(t, e, func(tx engineTx) error {
		tx.markShown(2)
		tx.setMessage(1, []byte("changed"))
		tx.failOutbox(1, 77, []byte("why"))
		tx.dropPendingBefore(g1, 5)
		return tx.delMessages([]byte("chat2"))
	})
	inTx(t, e, func(tx engineTx) error {
		if m, ok, _ := tx.message(1); !ok || string(m.v) != "changed" || string(m.chat) != "chat" {
			return fmt.Errorf("setMessage: %+v", m)
		}
		if fresh, _ := tx.messages(true); len(fresh) != 2 || fresh[0].id != 1 || fresh[1].id != 3 {
			return fmt.Errorf("not shown: %+v", fresh)
		}
		if r, ok, _ := tx.nextOutbox(); !ok || r.id != 2 {
			return fmt.Errorf("nextOutbox skips the failed one: %+v", r)
		}
		if n, _ := tx.countOutbox(); n != 2 {
			return fmt.Errorf("countOutbox %d", n)
		}
		all, _ := tx.outbox()
		if len(all) != 3 || !all[0].failed || all[0].failedAt != 77 || string(all[0].reason) != "why" || all[1].failed {
			return fmt.Errorf("outbox %+v", all)
		}
		if n, _ := tx.countPending(g1); n != 1 {
			return fmt.Errorf("pending of g1 after dropPendingBefore(5): %d", n)
		}
		if n, _ := tx.unfailOutbox(9); n != 0 {
			return fmt.Errorf("unfail of no entry: %d", n)
		}
		if n, _ := tx.dropOutbox(0); n != 1 {
			return fmt.Errorf("dropOutbox(0) dropped %d, want the 1 failed", n)
		}
		if ok, _ := tx.delOutbox(2); !ok {
			return errors.New("delOutbox(2) found nothing")
		}
		if n, _ := tx.dropOutbox(2); n != 0 {
			return fmt.Errorf("dropOutbox of a gone entry: %d", n)
		}
		if r, ok, _ := tx.nextOutbox(); !ok || r.id != 3 {
			return fmt.Errorf("nextOutbox %+v", r)
		}
		return nil
	})
}
