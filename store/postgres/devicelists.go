package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/samizdat-project/samizdat/store"
)

var _ store.DeviceListStore = (*Store)(nil)

// PutDeviceList implements store.DeviceListStore: the row is locked while
// the version is compared, so two publishes of one account are ordered.
func (s *Store) PutDeviceList(ctx context.Context, account store.AccountID, version uint64, list []byte) error {
	if err := store.ValidateDeviceList(version, list); err != nil {
		return err
	}
	now := s.unix()
	return s.inTx(ctx, "put device list", func(tx pgx.Tx) (bool, error) {
		return s.on(tx).PutDeviceList(ctx, account, version, list, now)
	})
}

// DeviceList implements store.DeviceListStore.
func (s *Store) DeviceList(ctx context.Context, account store.AccountID) (uint64, []byte, error) {
	return s.numberAndBlob(ctx, "get device list", `SELECT version, data FROM device_lists WHERE account_id = ?`, account[:])
}

// numberAndBlob reads the one row of query, a number and a blob by key
// (store.SQL.NumberAndBlob).
func (s *Store) numberAndBlob(ctx context.Context, op, query string, key []byte) (uint64, []byte, error) {
	if err := s.check(op); err != nil {
		return 0, nil, err
	}
	return s.on(s.pool).NumberAndBlob(ctx, op, query, key)
}
