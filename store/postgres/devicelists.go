package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

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
		var cur int64
		var data []byte
		err := tx.QueryRow(ctx, `SELECT version, data FROM device_lists WHERE account_id = $1 FOR UPDATE`, account[:]).Scan(&cur, &data)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return false, s.wrap("put device list", err)
		case uint64(cur) == version && bytes.Equal(data, list):
			return false, nil
		case uint64(cur) >= version:
			return false, fmt.Errorf("postgres: doing put device list: version %d, stored %d: %w", version, cur, store.ErrOldVersion)
		}
		_, err = tx.Exec(ctx, `INSERT INTO device_lists (account_id, version, data, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, data = excluded.data, updated_at = excluded.updated_at
			WHERE device_lists.version < excluded.version`,
			account[:], int64(version), list, now)
		if err != nil {
			return false, s.wrap("put device list", err)
		}
		return true, nil
	})
}

// DeviceList implements store.DeviceListStore.
func (s *Store) DeviceList(ctx context.Context, account store.AccountID) (uint64, []byte, error) {
	return s.numberAndBlob(ctx, "get device list", `SELECT version, data FROM device_lists WHERE account_id = $1`, account[:])
}

// numberAndBlob reads the one row of query, a number and a blob by key,
// as DeviceList, GroupInfo and Channel answer; no row is ErrNotFound.
func (s *Store) numberAndBlob(ctx context.Context, op, query string, key []byte) (uint64, []byte, error) {
	if err := s.check(op); err != nil {
		return 0, nil, err
	}
	var n int64
	var b []byte
	err := s.pool.QueryRow(ctx, query, key).Scan(&n, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, fmt.Errorf("postgres: doing %s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return 0, nil, s.wrap(op, err)
	}
	return uint64(n), b, nil
}
