package sqlitetest

import (
	"context"
	"errors"
	"testing"

	"github.com/samizdat-project/samizdat/store"
)

func TestOpenGivesAWorkingStoreThatClosesWithTheTest(t *testing.T) {
	var st interface {
		Device(context.Context, store.DeviceID) (store.Device, error)
	}
	t.Run("inner", func(t *testing.T) {
		s := Open(t)
		if _, err := s.Device(context.Background(), store.DeviceID{1}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Device on a fresh store: %v, want ErrNotFound", err)
		}
		st = s
	})
	if _, err := st.Device(context.Background(), store.DeviceID{1}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Device after the test ended: %v, want ErrClosed", err)
	}
}
