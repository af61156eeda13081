package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/storetest"
)

func TestChannelConformance(t *testing.T) {
	storetest.RunChannels(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "samizdat.db")
		return func() (store.Store, error) { return Open(context.Background(), path, nil) }
	})
}
