//go:build linux

package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/storetest"
)

func opener(t *testing.T) storetest.Opener {
	dsn := newTestDB(t)
	return func() (store.Store, error) { return Open(context.Background(), dsn, nil) }
}

func TestConformance(t *testing.T) {
	storetest.Run(t, opener)
}

func TestChannelConformance(t *testing.T) {
	storetest.RunChannels(t, opener)
}

// TestMigrateIdempotent opens one database twice and checks that the
// second Open finds the schema current.
func TestMigrateIdempotent(t *testing.T) {
	dsn := newTestDB(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		s, err := Open(ctx, dsn, nil)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var v int
		if err := s.pool.QueryRow(ctx, `SELECT version FROM samizdat_schema_version`).Scan(&v); err != nil || v != len(migrations) {
			t.Fatalf("schema version %d, %v; want %d", v, err, len(migrations))
		}
		s.Close()
	}
}

// TestOwningContext checks that the store is closed when Open's context ends.
func TestOwningContext(t *testing.T) {
	dsn := newTestDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	for i := 0; ; i++ { // AfterFunc runs in its own goroutine
		_, err = s.GroupEpoch(context.Background(), store.GroupHash{1})
		if err != nil && errors.Is(err, store.ErrClosed) {
			return
		}
		if i == 1000 {
			t.Fatalf("GroupEpoch after the owning context ended: %v, want ErrClosed", err)
		}
		time.Sleep(time.Millisecond)
	}
}
