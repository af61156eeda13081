package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/samizdat-project/samizdat/store"
)

// PutDevice implements store.Store. The registration is one upsert that
// refreshes the key and certificate only when the account matches.
func (s *Store) PutDevice(ctx context.Context, d store.Device) error {
	if err := store.ValidateDevice(&d); err != nil {
		return err
	}
	now := s.unix()
	return s.inTx(ctx, "put device", func(tx pgx.Tx) (bool, error) {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(d.ID)); err != nil {
			return false, s.wrap("put device", err)
		}
		var revoked bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_devices WHERE device_id = $1)`, d.ID[:]).Scan(&revoked); err != nil {
			return false, s.wrap("put device", err)
		}
		if revoked {
			return false, fmt.Errorf("postgres: doing put device %x: %w", d.ID[:8], store.ErrRevoked)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO devices (`+store.DeviceColumns+`) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (device_id) DO UPDATE SET device_key = excluded.device_key, device_cert = excluded.device_cert
			WHERE devices.account_id = excluded.account_id`,
			d.ID[:], d.Account[:], d.Key, d.Cert, now)
		if err != nil {
			return false, s.wrap("put device", err)
		}
		if tag.RowsAffected() == 0 {
			return false, fmt.Errorf("postgres: doing put device %x: registered to another account: %w", d.ID[:8], store.ErrDuplicate)
		}
		return true, nil
	})
}

// Device implements store.Store.
func (s *Store) Device(ctx context.Context, id store.DeviceID) (store.Device, error) {
	if err := s.check("get device"); err != nil {
		return store.Device{}, err
	}
	return s.on(s.pool).Device(ctx, id)
}

// DevicesOf implements store.Store.
func (s *Store) DevicesOf(ctx context.Context, account store.AccountID) ([]store.Device, error) {
	if err := s.check("list devices"); err != nil {
		return nil, err
	}
	return s.on(s.pool).DevicesOf(ctx, account)
}

// RevokeDevice implements store.Store. Deleting the device row first takes
// its lock, so a Send holding it finishes first and its entries are then
// deleted too, and a later Send finds the device gone.
func (s *Store) RevokeDevice(ctx context.Context, id store.DeviceID) error {
	now := s.unix()
	return s.inTx(ctx, "revoke device", func(tx pgx.Tx) (bool, error) {
		steps := []struct {
			q    string
			args []any
		}{
			{`SELECT pg_advisory_xact_lock($1)`, []any{lockKey(id)}},
			{`DELETE FROM devices WHERE device_id = $1`, []any{id[:]}},
			{`INSERT INTO revoked_devices (device_id, revoked_at) VALUES ($1, $2) ON CONFLICT (device_id) DO NOTHING`, []any{id[:], now}},
			{`DELETE FROM key_packages WHERE device_id = $1`, []any{id[:]}},
			{`DELETE FROM mailbox WHERE device_id = $1`, []any{id[:]}},
		}
		for _, st := range steps {
			if _, err := tx.Exec(ctx, st.q, st.args...); err != nil {
				return false, s.wrap("revoke device", err)
			}
		}
		return true, nil
	})
}

// DeviceRevoked implements store.Store.
func (s *Store) DeviceRevoked(ctx context.Context, id store.DeviceID) (bool, error) {
	if err := s.check("revoked check"); err != nil {
		return false, err
	}
	var revoked bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_devices WHERE device_id = $1)`, id[:]).Scan(&revoked); err != nil {
		return false, s.wrap("revoked check", err)
	}
	return revoked, nil
}

// AddKeyPackages implements store.Store. The device row is share-locked,
// so a concurrent revocation either comes first (ErrNotFound) or deletes
// these packages too.
func (s *Store) AddKeyPackages(ctx context.Context, device store.DeviceID, oneTime [][]byte, lastResort []byte) error {
	if err := store.ValidateKeyPackages(oneTime, lastResort); err != nil {
		return err
	}
	return s.inTx(ctx, "add key packages", func(tx pgx.Tx) (bool, error) {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM devices WHERE device_id = $1 FOR KEY SHARE`, device[:]).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("postgres: doing add key packages for device %x: %w", device[:8], store.ErrNotFound)
		}
		if err != nil {
			return false, s.wrap("add key packages", err)
		}
		if len(oneTime) > 0 {
			// Ids follow the caller's order: claims take the oldest first.
			_, err := tx.Exec(ctx, `INSERT INTO key_packages (device_id, data, last_resort)
				SELECT $1, u.data, false FROM unnest($2::bytea[]) WITH ORDINALITY AS u(data, n) ORDER BY u.n`, device[:], oneTime)
			if err != nil {
				return false, s.wrap("add key packages", err)
			}
		}
		if len(lastResort) > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO key_packages (device_id, data, last_resort) VALUES ($1, $2, true)
				ON CONFLICT (device_id) WHERE last_resort DO UPDATE SET data = excluded.data`, device[:], lastResort)
			if err != nil {
				return false, s.wrap("replace last-resort key package", err)
			}
		}
		return true, nil
	})
}

// ClaimKeyPackage implements store.Store. The take is one DELETE ...
// RETURNING of a row locked with SKIP LOCKED: two claims never return the
// same one-time package, and concurrent claims do not queue behind each
// other.
func (s *Store) ClaimKeyPackage(ctx context.Context, device store.DeviceID) (store.KeyPackage, error) {
	if err := s.check("claim key package"); err != nil {
		return store.KeyPackage{}, err
	}
	var data []byte
	err := s.pool.QueryRow(ctx, `DELETE FROM key_packages WHERE id = (
		SELECT id FROM key_packages WHERE device_id = $1 AND NOT last_resort ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
	) RETURNING data`, device[:]).Scan(&data)
	if err == nil {
		return store.KeyPackage{Data: data}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.KeyPackage{}, s.wrap("claim key package", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT data FROM key_packages WHERE device_id = $1 AND last_resort`, device[:]).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.KeyPackage{}, fmt.Errorf("postgres: doing claim key package for device %x: %w", device[:8], store.ErrNotFound)
	}
	if err != nil {
		return store.KeyPackage{}, s.wrap("claim key package", err)
	}
	return store.KeyPackage{Data: data, LastResort: true}, nil
}

// CountKeyPackages implements store.Store.
func (s *Store) CountKeyPackages(ctx context.Context, device store.DeviceID) (int, bool, error) {
	if err := s.check("count key packages"); err != nil {
		return 0, false, err
	}
	var oneTime int64
	var lastResort bool
	err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT last_resort), coalesce(bool_or(last_resort), false)
		FROM key_packages WHERE device_id = $1`, device[:]).Scan(&oneTime, &lastResort)
	if err != nil {
		return 0, false, s.wrap("count key packages", err)
	}
	return int(oneTime), lastResort, nil
}
