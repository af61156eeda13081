package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/store"
)

// RevokeDevice implements store.Store. It runs on the writer, which also
// drops the device from its caches, so that no later Send of the same batch
// or of a later one can reach it.
func (s *Store) RevokeDevice(ctx context.Context, id store.DeviceID) error {
	now := s.unix()
	return s.w.do(ctx, "revoke device", func(ctx context.Context, c *sql.Conn) error {
		for _, q := range []string{
			`INSERT INTO revoked_devices (device_id, revoked_at) VALUES (?1, ?2) ON CONFLICT (device_id) DO NOTHING`,
			`DELETE FROM key_packages WHERE device_id = ?1`,
			`DELETE FROM mailbox WHERE device_num = (SELECT num FROM devices WHERE device_id = ?1)`,
			`DELETE FROM devices WHERE device_id = ?1`,
		} {
			if _, err := c.ExecContext(ctx, q, id[:], now); err != nil {
				return fmt.Errorf("store: doing revoke device: %w", err)
			}
		}
		delete(s.w.devs, id)
		delete(s.w.ov.devs, id)
		return nil
	})
}

// DeviceRevoked implements store.Store.
func (s *Store) DeviceRevoked(ctx context.Context, id store.DeviceID) (bool, error) {
	if s.closed() {
		return false, fmt.Errorf("store: doing revoked check: %w", store.ErrClosed)
	}
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM revoked_devices WHERE device_id = ?`, id[:]).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: doing revoked check: %w", err)
	}
	return true, nil
}

// CountKeyPackages implements store.Store.
func (s *Store) CountKeyPackages(ctx context.Context, device store.DeviceID) (int, bool, error) {
	if s.closed() {
		return 0, false, fmt.Errorf("store: doing count key packages: %w", store.ErrClosed)
	}
	var oneTime, lastResort int64
	err := s.read.QueryRowContext(ctx, `SELECT coalesce(sum(last_resort = 0), 0), coalesce(max(last_resort), 0)
		FROM key_packages WHERE device_id = ?`, device[:]).Scan(&oneTime, &lastResort)
	if err != nil {
		return 0, false, fmt.Errorf("store: doing count key packages: %w", err)
	}
	return int(oneTime), lastResort != 0, nil
}

// PutGroupInfo implements store.Store. It runs on the writer, which owns
// the groups' epochs, so a commit and a publish never interleave.
func (s *Store) PutGroupInfo(ctx context.Context, group store.GroupHash, epoch uint64, info []byte) error {
	if err := store.ValidateGroupInfo(info); err != nil {
		return err
	}
	now := s.unix()
	return s.w.do(ctx, "put group info", func(ctx context.Context, c *sql.Conn) error {
		cur, known, err := s.w.epoch(ctx, s.w.ov, group)
		if err != nil {
			return fmt.Errorf("store: doing put group info: %w", err)
		}
		if !known {
			return fmt.Errorf("store: doing put group info: no commit for this group yet: %w", store.ErrNotFound)
		}
		// wire.md §6.7: only the current epoch's GroupInfo is useful for
		// an external commit (RFC 9420 §12.4.3.2), which the DS accepts
		// only at the current epoch.
		if cur != epoch {
			return fmt.Errorf("store: doing put group info: %w", &store.StaleEpochError{Current: cur, Sent: epoch})
		}
		_, err = c.ExecContext(ctx, `INSERT INTO group_info (group_hash, epoch, data, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (group_hash) DO UPDATE SET epoch = excluded.epoch, data = excluded.data, updated_at = excluded.updated_at`,
			group[:], int64(epoch), info, now)
		if err != nil {
			return fmt.Errorf("store: doing put group info: %w", err)
		}
		return nil
	})
}

// GroupInfo implements store.Store.
func (s *Store) GroupInfo(ctx context.Context, group store.GroupHash) (uint64, []byte, error) {
	return s.numberAndBlob(ctx, "get group info", `SELECT epoch, data FROM group_info WHERE group_hash = ?`, group[:]) // devicelists.go
}
