package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "samizdat.db")
		return func() (store.Store, error) { return Open(context.Background(), path, nil) }
	})
}

// The same suite with SQLite's own checkpoints and a tiny seen-id cap, so
// that the writer forgets ids while the suite runs: every case must still
// hold (the suite never relies on more than a few hundred ids).
func TestConformanceAutoCheckpointSmallSeen(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "samizdat.db")
		return func() (store.Store, error) {
			return Open(context.Background(), path, &Options{CheckpointInterval: -1, MaxSeen: 4096})
		}
	})
}

// TestSeenCap checks that the oldest seen ids are forgotten past MaxSeen and
// the newest are kept, in memory and across a reopen.
func TestSeenCap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cap.db")
	open := func() *Store {
		s, err := Open(ctx, path, &Options{MaxSeen: 16})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	d := store.Device{ID: store.DeviceID{1}, Key: []byte{1}, Cert: []byte{1}}
	if err := s.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	send := func(s *Store, i int) store.Result {
		res, err := s.Enqueue(ctx, store.Send{MsgID: store.MsgID{byte(i)}, Kind: store.KindApplication, Recipients: []store.DeviceID{d.ID}, Payload: []byte{1}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := 0; i < 40; i++ {
		send(s, i)
	}
	s.Close()
	s = open()
	defer s.Close()
	send(s, 100) // a batch: eviction runs at the start of one
	if !send(s, 39).Duplicate {
		t.Fatal("the newest id was forgotten")
	}
	if send(s, 0).Duplicate {
		t.Fatal("the oldest id was kept past MaxSeen")
	}
	var rows int
	if err := s.read.QueryRow(`SELECT count(*) FROM seen_msgs`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows > 16+2 || rows != len(s.w.seen) {
		t.Fatalf("seen_msgs has %d rows, the writer holds %d ids; want the same, at most about MaxSeen", rows, len(s.w.seen))
	}
}
