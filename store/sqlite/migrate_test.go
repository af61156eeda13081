package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/samizdat-project/samizdat/store"
)

// TestMigrateFromV1 builds a version-1 database by hand (devices with
// last_seq, a mailbox keyed by device id, seen ids) and checks that Open
// carries every row over: pending entries, the seq that continues after
// both them and the acknowledged ones, and the seen ids.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	devA, devB := store.DeviceID{0xa}, store.DeviceID{0xb}
	seenID, pendingID := store.MsgID{1}, store.MsgID{2}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version VALUES (1)`,
		migrations[0],
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []struct {
		q    string
		args []any
	}{
		// A acknowledged seqs 1..5 (only last_seq remembers them); B has seq 1..2 pending.
		{`INSERT INTO devices VALUES (?, ?, ?, ?, 100, 5)`, []any{devA[:], devA[:], []byte{1}, []byte{1}}},
		{`INSERT INTO devices VALUES (?, ?, ?, ?, 200, 2)`, []any{devB[:], devB[:], []byte{2}, []byte{2}}},
		{`INSERT INTO mailbox (device_id, seq, msg_id, group_hash, epoch, kind, payload, enqueued_at) VALUES (?, 1, ?, ?, 1, 1, x'01', 300)`, []any{devB[:], seenID[:], make([]byte, 32)}},
		{`INSERT INTO mailbox (device_id, seq, msg_id, group_hash, epoch, kind, payload, enqueued_at) VALUES (?, 2, ?, ?, 1, 1, x'02', 300)`, []any{devB[:], pendingID[:], make([]byte, 32)}},
		{`INSERT INTO seen_msgs VALUES (?, 300), (?, 300)`, []any{seenID[:], pendingID[:]}},
	} {
		if _, err := db.ExecContext(ctx, st.q, st.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("Open of a v1 database: %v", err)
	}
	defer s.Close()
	es, err := s.Pending(ctx, devB, 0, 10)
	if err != nil || len(es) != 2 || es[1].Seq != 2 || es[1].MsgID != pendingID || string(es[1].Payload) != "\x02" {
		t.Fatalf("B's mailbox after migration = %+v, %v; want seq 1 and 2", es, err)
	}
	if res, err := s.Enqueue(ctx, store.Send{MsgID: seenID, Kind: store.KindApplication, Recipients: []store.DeviceID{devA}, Payload: []byte{1}}); err != nil || !res.Duplicate {
		t.Fatalf("retry of a v1 seen id = %+v, %v; want a duplicate", res, err)
	}
	if _, err := s.Enqueue(ctx, store.Send{MsgID: store.MsgID{3}, Kind: store.KindApplication, Recipients: []store.DeviceID{devA, devB}, Payload: []byte{3}}); err != nil {
		t.Fatal(err)
	}
	if es, _ := s.Pending(ctx, devA, 0, 10); len(es) != 1 || es[0].Seq != 6 {
		t.Fatalf("A's next entry = %+v; want seq 6, after its acknowledged 5", es)
	}
	if es, _ := s.Pending(ctx, devB, 2, 10); len(es) != 1 || es[0].Seq != 3 {
		t.Fatalf("B's next entry = %+v; want seq 3", es)
	}
	if got, err := s.DevicesOf(ctx, store.AccountID(devB)); err != nil || len(got) != 1 || got[0].CreatedAt.Unix() != 200 {
		t.Fatalf("B's device row after migration = %+v, %v", got, err)
	}
}
