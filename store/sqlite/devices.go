package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/store"
)

// PutDevice implements store.Store.
func (s *Store) PutDevice(ctx context.Context, d store.Device) error {
	if err := store.ValidateDevice(&d); err != nil {
		return err
	}
	now := s.unix()
	return s.w.do(ctx, "put device", func(ctx context.Context, c *sql.Conn) error {
		var one int
		err := c.QueryRowContext(ctx, `SELECT 1 FROM revoked_devices WHERE device_id = ?`, d.ID[:]).Scan(&one)
		if err == nil {
			return fmt.Errorf("store: doing put device %x: %w", d.ID[:8], store.ErrRevoked)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: doing put device: %w", err)
		}
		var account []byte
		err = c.QueryRowContext(ctx, `SELECT account_id FROM devices WHERE device_id = ?`, d.ID[:]).Scan(&account)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = c.ExecContext(ctx, `INSERT INTO devices (`+store.DeviceColumns+`) VALUES (?, ?, ?, ?, ?)`,
				d.ID[:], d.Account[:], d.Key, d.Cert, now)
		case err != nil:
		case string(account) != string(d.Account[:]):
			return fmt.Errorf("store: doing put device %x: registered to another account: %w", d.ID[:8], store.ErrDuplicate)
		default:
			_, err = c.ExecContext(ctx, `UPDATE devices SET device_key = ?, device_cert = ? WHERE device_id = ?`, d.Key, d.Cert, d.ID[:])
		}
		if err != nil {
			return fmt.Errorf("store: doing put device: %w", err)
		}
		return nil
	})
}

// Device implements store.Store.
func (s *Store) Device(ctx context.Context, id store.DeviceID) (store.Device, error) {
	if s.closed() {
		return store.Device{}, fmt.Errorf("store: doing get device: %w", store.ErrClosed)
	}
	return on(s.read).Device(ctx, id)
}

// DevicesOf implements store.Store.
func (s *Store) DevicesOf(ctx context.Context, account store.AccountID) ([]store.Device, error) {
	if s.closed() {
		return nil, fmt.Errorf("store: doing list devices: %w", store.ErrClosed)
	}
	return on(s.read).DevicesOf(ctx, account)
}

// AddKeyPackages implements store.Store.
func (s *Store) AddKeyPackages(ctx context.Context, device store.DeviceID, oneTime [][]byte, lastResort []byte) error {
	if err := store.ValidateKeyPackages(oneTime, lastResort); err != nil {
		return err
	}
	return s.w.do(ctx, "add key packages", func(ctx context.Context, c *sql.Conn) error {
		var one int
		err := c.QueryRowContext(ctx, `SELECT 1 FROM devices WHERE device_id = ?`, device[:]).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: doing add key packages for device %x: %w", device[:8], store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: doing add key packages: %w", err)
		}
		for _, kp := range oneTime {
			if _, err := c.ExecContext(ctx, `INSERT INTO key_packages (device_id, data, last_resort) VALUES (?, ?, 0)`, device[:], kp); err != nil {
				return fmt.Errorf("store: doing add key packages: %w", err)
			}
		}
		if len(lastResort) > 0 {
			if _, err := c.ExecContext(ctx, `DELETE FROM key_packages WHERE device_id = ? AND last_resort = 1`, device[:]); err != nil {
				return fmt.Errorf("store: doing replace last-resort key package: %w", err)
			}
			if _, err := c.ExecContext(ctx, `INSERT INTO key_packages (device_id, data, last_resort) VALUES (?, ?, 1)`, device[:], lastResort); err != nil {
				return fmt.Errorf("store: doing replace last-resort key package: %w", err)
			}
		}
		return nil
	})
}

// ClaimKeyPackage implements store.Store. The take is one DELETE ...
// RETURNING run by the single writer, so two claims can never return the
// same one-time package.
func (s *Store) ClaimKeyPackage(ctx context.Context, device store.DeviceID) (store.KeyPackage, error) {
	var kp store.KeyPackage
	err := s.w.do(ctx, "claim key package", func(ctx context.Context, c *sql.Conn) error {
		var data []byte
		err := c.QueryRowContext(ctx, `DELETE FROM key_packages WHERE id = (
			SELECT id FROM key_packages WHERE device_id = ? AND last_resort = 0 ORDER BY id LIMIT 1
		) RETURNING data`, device[:]).Scan(&data)
		if err == nil {
			kp = store.KeyPackage{Data: data}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: doing claim key package: %w", err)
		}
		err = c.QueryRowContext(ctx, `SELECT data FROM key_packages WHERE device_id = ? AND last_resort = 1`, device[:]).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: doing claim key package for device %x: %w", device[:8], store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: doing claim key package: %w", err)
		}
		kp = store.KeyPackage{Data: data, LastResort: true}
		return nil
	})
	if err != nil {
		return store.KeyPackage{}, err
	}
	return kp, nil
}
