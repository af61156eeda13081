package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
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
		var cur int64
		var data []byte
		err := c.QueryRowContext(ctx, `SELECT version, data FROM device_lists WHERE account_id = ?`, account[:]).Scan(&cur, &data)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("store: doing put device list: %w", err)
		case uint64(cur) == version && bytes.Equal(data, list):
			return nil
		case uint64(cur) >= version:
			return fmt.Errorf("store: doing put device list: version %d, stored %d: %w", version, cur, store.ErrOldVersion)
		}
		_, err = c.ExecContext(ctx, `INSERT INTO device_lists (account_id, version, data, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, data = excluded.data, updated_at = excluded.updated_at`,
			account[:], int64(version), list, now)
		if err != nil {
			return fmt.Errorf("store: doing put device list: %w", err)
		}
		return nil
	})
}

// DeviceList implements store.DeviceListStore.
func (s *Store) DeviceList(ctx context.Context, account store.AccountID) (uint64, []byte, error) {
	return s.numberAndBlob(ctx, "get device list", `SELECT version, data FROM device_lists WHERE account_id = ?`, account[:])
}

// numberAndBlob reads the one row of query, a number and a blob by key,
// as DeviceList, GroupInfo and Channel answer; no row is ErrNotFound.
func (s *Store) numberAndBlob(ctx context.Context, op, query string, key []byte) (uint64, []byte, error) {
	if s.closed() {
		return 0, nil, fmt.Errorf("store: doing %s: %w", op, store.ErrClosed)
	}
	var n int64
	var b []byte
	err := s.read.QueryRowContext(ctx, query, key).Scan(&n, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, fmt.Errorf("store: doing %s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store: doing %s: %w", op, err)
	}
	return uint64(n), b, nil
}
