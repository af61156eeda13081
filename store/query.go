package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// SQL is a connection, transaction or pool of either SQL store's driver
// (database/sql for store/sqlite, pgx for store/postgres), for the queries
// both stores run alike: its methods are those queries, written once.
// Queries are written with ? placeholders; the PostgreSQL side numbers them.
type SQL struct {
	// Pkg names the store in errors: "<Pkg>: doing what: …".
	Pkg string
	// QueryRow runs a query of at most one row.
	QueryRow func(ctx context.Context, query string, args ...any) Row
	// Each runs a query, calls row for every row in order and closes the
	// rows; the first error stops it.
	Each func(ctx context.Context, query string, args []any, row func(Row) error) error
	// Exec runs a statement.
	Exec func(ctx context.Context, query string, args ...any) error
	// NoRows is the error of QueryRow's Scan when there was no row.
	NoRows error
	// Wrap wraps a driver's error as "<Pkg>: doing op: …".
	Wrap func(op string, err error) error
	// LockRow is the clause that locks a row read in a transaction until
	// it ends (" FOR UPDATE"); empty where one writer orders every write
	// (SQLite).
	LockRow string
}

// NumberAndBlob reads the one row of query, a number and a blob by key,
// as DeviceList, GroupInfo and Channel answer; no row is ErrNotFound.
func (q SQL) NumberAndBlob(ctx context.Context, op, query string, key []byte) (uint64, []byte, error) {
	var n int64
	var b []byte
	err := q.QueryRow(ctx, query, key).Scan(&n, &b)
	if errors.Is(err, q.NoRows) {
		return 0, nil, fmt.Errorf("%s: doing %s: %w", q.Pkg, op, ErrNotFound)
	}
	if err != nil {
		return 0, nil, q.Wrap(op, err)
	}
	return uint64(n), b, nil
}

// Device reads the device id; no row is ErrNotFound.
func (q SQL) Device(ctx context.Context, id DeviceID) (Device, error) {
	d, err := ScanDevice(q.QueryRow(ctx, `SELECT `+DeviceColumns+` FROM devices WHERE device_id = ?`, id[:]))
	if errors.Is(err, q.NoRows) {
		return Device{}, fmt.Errorf("%s: doing get device %x: %w", q.Pkg, id[:8], ErrNotFound)
	}
	if err != nil {
		return Device{}, q.Wrap("get device", err)
	}
	return d, nil
}

// Collect runs query on q and decodes every row with scan; op names it
// in errors.
func Collect[T any](ctx context.Context, q SQL, op, query string, args []any, scan func(Row) (T, error)) ([]T, error) {
	var out []T
	err := q.Each(ctx, query, args, func(r Row) error {
		v, err := scan(r)
		out = append(out, v)
		return err
	})
	if err != nil {
		return nil, q.Wrap(op, err)
	}
	return out, nil
}

// DevicesOf reads the account's devices, oldest first.
func (q SQL) DevicesOf(ctx context.Context, account AccountID) ([]Device, error) {
	return Collect(ctx, q, "list devices", `SELECT `+DeviceColumns+` FROM devices WHERE account_id = ? ORDER BY created_at, device_id`,
		[]any{account[:]}, ScanDevice)
}

// ChannelPosts reads up to limit posts of the channel after afterSeq, in
// order (a validated limit).
func (q SQL) ChannelPosts(ctx context.Context, id ChannelID, afterSeq uint64, limit int) ([]ChannelPost, error) {
	if afterSeq > 1<<62 {
		return nil, nil // no post has a seq that large
	}
	return Collect(ctx, q, "channel posts", `SELECT seq, post FROM channel_posts WHERE channel_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		[]any{id[:], int64(afterSeq), limit}, func(r Row) (ChannelPost, error) {
			var p ChannelPost
			var seq int64
			err := r.Scan(&seq, &p.Post)
			p.Seq = uint64(seq)
			return p, err
		})
}

// ChannelRevocations reads the channel's revoked admin keys (rows of
// (admin_key, seq)). An admin key that is not 32 bytes is reported as
// corrupt.
func (q SQL) ChannelRevocations(ctx context.Context, id ChannelID) (map[[32]byte]uint64, error) {
	out := map[[32]byte]uint64{}
	err := q.Each(ctx, `SELECT admin_key, seq FROM channel_revocations WHERE channel_id = ?`, []any{id[:]}, func(r Row) error {
		var k []byte
		var seq int64
		if err := r.Scan(&k, &seq); err != nil {
			return err
		}
		if len(k) != 32 {
			return fmt.Errorf("corrupt admin key of %d bytes", len(k))
		}
		out[[32]byte(k)] = uint64(seq)
		return nil
	})
	if err != nil {
		return nil, q.Wrap("channel revocations", err)
	}
	return out, nil
}

// PutDeviceList is DeviceListStore.PutDeviceList inside a transaction
// (validated list, now in Unix seconds): the stored row is read (locked
// with LockRow) and compared, and the list written only if its version is
// newer. wrote says whether anything was written: the same version with
// the same bytes again is neither written nor an error.
func (q SQL) PutDeviceList(ctx context.Context, account AccountID, version uint64, list []byte, now int64) (wrote bool, err error) {
	const op = "put device list"
	var cur int64
	var data []byte
	err = q.QueryRow(ctx, `SELECT version, data FROM device_lists WHERE account_id = ?`+q.LockRow, account[:]).Scan(&cur, &data)
	switch {
	case errors.Is(err, q.NoRows):
	case err != nil:
		return false, q.Wrap(op, err)
	case uint64(cur) == version && bytes.Equal(data, list):
		return false, nil
	case uint64(cur) >= version:
		return false, fmt.Errorf("%s: doing %s: version %d, stored %d: %w", q.Pkg, op, version, cur, ErrOldVersion)
	}
	err = q.Exec(ctx, `INSERT INTO device_lists (account_id, version, data, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, data = excluded.data, updated_at = excluded.updated_at
		WHERE device_lists.version < excluded.version`,
		account[:], int64(version), list, now)
	if err != nil {
		return false, q.Wrap(op, err)
	}
	return true, nil
}

// MigrateStep applies the next of migrations inside a transaction (the
// caller's: it begins, commits or rolls back) whose schema version the
// one-row table versionTable keeps, created at version 0 if missing. done
// says that the schema was the newest already and nothing was applied. A
// database newer than migrations is an error: this binary cannot use it.
func (q SQL) MigrateStep(ctx context.Context, versionTable string, migrations []string) (done bool, err error) {
	if err := q.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+versionTable+` (version INTEGER NOT NULL)`); err != nil {
		return false, q.Wrap(versionTable+" create", err)
	}
	var version int
	err = q.QueryRow(ctx, `SELECT version FROM `+versionTable).Scan(&version)
	if errors.Is(err, q.NoRows) {
		err = q.Exec(ctx, `INSERT INTO `+versionTable+` (version) VALUES (0)`)
	}
	if err != nil {
		return false, q.Wrap(versionTable+" read", err)
	}
	switch {
	case version > len(migrations):
		return false, fmt.Errorf("%s: doing migration: database has %s %d, this binary knows up to %d; run a newer samizdat", q.Pkg, versionTable, version, len(migrations))
	case version == len(migrations):
		return true, nil
	}
	step := fmt.Sprintf("migration of %s to version %d", versionTable, version+1)
	if err := q.Exec(ctx, migrations[version]); err != nil {
		return false, q.Wrap(step, err)
	}
	if err := q.Exec(ctx, `UPDATE `+versionTable+` SET version = ?`, version+1); err != nil {
		return false, q.Wrap(step, err)
	}
	return false, nil
}
