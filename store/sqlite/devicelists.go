package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/samizdat-project/samizdat/store"
)

var _ store.DeviceListStore = (*Store)(nil)

// PutDeviceList implements store.DeviceListStore. It runs on the writer, so
// that two publishes of one account are ordered.
func (s *Store) PutDeviceList(ctx context.Context, account store.AccountID, version uint64, list []byte) error {
	if err := store.ValidateDeviceList(version, list); err != nil {
		return err
	}
	now := s.unix()
	return s.w.do(ctx, "put device list", func(ctx context.Context, c *sql.Conn) error {
		_, err := on(c).PutDeviceList(ctx, account, version, list, now)
		return err
	})
}

// DeviceList implements store.DeviceListStore.
func (s *Store) DeviceList(ctx context.Context, account store.AccountID) (uint64, []byte, error) {
	return s.numberAndBlob(ctx, "get device list", `SELECT version, data FROM device_lists WHERE account_id = ?`, account[:])
}

// numberAndBlob reads the one row of query, a number and a blob by key
// (store.SQL.NumberAndBlob).
func (s *Store) numberAndBlob(ctx context.Context, op, query string, key []byte) (uint64, []byte, error) {
	if s.closed() {
		return 0, nil, fmt.Errorf("store: doing %s: %w", op, store.ErrClosed)
	}
	return on(s.read).NumberAndBlob(ctx, op, query, key)
}
