package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order, each in its own transaction together with
// the schema_version bump. Append; never edit a released step. Every table
// and column here is described in docs/what-the-server-knows.md, and a test
// compares the two.
var migrations = []string{
	// 1: the messaging core.
	`
CREATE TABLE devices (
	device_id   BLOB PRIMARY KEY,
	account_id  BLOB NOT NULL,
	device_key  BLOB NOT NULL,
	device_cert BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	last_seq    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX devices_by_account ON devices (account_id, created_at);

CREATE TABLE key_packages (
	id          INTEGER PRIMARY KEY,
	device_id   BLOB NOT NULL,
	data        BLOB NOT NULL,
	last_resort INTEGER NOT NULL
);
CREATE INDEX key_packages_by_device ON key_packages (device_id, last_resort, id);

CREATE TABLE mailbox (
	id          INTEGER PRIMARY KEY,
	device_id   BLOB NOT NULL,
	seq         INTEGER NOT NULL,
	msg_id      BLOB NOT NULL,
	group_hash  BLOB NOT NULL,
	epoch       INTEGER NOT NULL,
	kind        INTEGER NOT NULL,
	payload     BLOB NOT NULL,
	enqueued_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX mailbox_by_device ON mailbox (device_id, seq);

CREATE TABLE seen_msgs (
	msg_id  BLOB PRIMARY KEY,
	seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX seen_msgs_by_time ON seen_msgs (seen_at);

CREATE TABLE groups (
	group_hash BLOB PRIMARY KEY,
	epoch      INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 2: throughput and the optional operations. seen_msgs becomes an
	// append-only log (rowid order = arrival order; the writer keeps the
	// ids of the window in memory, so no random-key B-tree insert per
	// message). devices.last_seq, written per recipient per batch, becomes
	// seq_floor, written only when entries are deleted: the next seq of a
	// device is max(seq_floor, max(mailbox.seq)) + 1. Plus group info for
	// external joins and the revoked-device list.
	`
CREATE TABLE seen_log (
	id      INTEGER PRIMARY KEY,
	msg_id  BLOB NOT NULL,
	seen_at INTEGER NOT NULL
);
INSERT INTO seen_log (msg_id, seen_at) SELECT msg_id, seen_at FROM seen_msgs ORDER BY seen_at;
DROP TABLE seen_msgs;
ALTER TABLE seen_log RENAME TO seen_msgs;
CREATE INDEX seen_msgs_by_time ON seen_msgs (seen_at);

ALTER TABLE devices RENAME COLUMN last_seq TO seq_floor;

CREATE TABLE group_info (
	group_hash BLOB PRIMARY KEY,
	epoch      INTEGER NOT NULL,
	data       BLOB NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE revoked_devices (
	device_id  BLOB PRIMARY KEY,
	revoked_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 3: mailbox rows name their device by a small number instead of its
	// 32-byte id, so mailbox_by_device (one insert per message, at each
	// device's end) holds about 12-byte entries instead of about 50: a
	// quarter of the index pages to dirty and write per batch.
	`
CREATE TABLE devices_v3 (
	num         INTEGER PRIMARY KEY,
	device_id   BLOB NOT NULL UNIQUE,
	account_id  BLOB NOT NULL,
	device_key  BLOB NOT NULL,
	device_cert BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	seq_floor   INTEGER NOT NULL DEFAULT 0
);
INSERT INTO devices_v3 (device_id, account_id, device_key, device_cert, created_at, seq_floor)
	SELECT device_id, account_id, device_key, device_cert, created_at, seq_floor FROM devices ORDER BY created_at, device_id;
DROP TABLE devices;
ALTER TABLE devices_v3 RENAME TO devices;
CREATE INDEX devices_by_account ON devices (account_id, created_at);

CREATE TABLE mailbox_v3 (
	id          INTEGER PRIMARY KEY,
	device_num  INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	msg_id      BLOB NOT NULL,
	group_hash  BLOB NOT NULL,
	epoch       INTEGER NOT NULL,
	kind        INTEGER NOT NULL,
	payload     BLOB NOT NULL,
	enqueued_at INTEGER NOT NULL
);
INSERT INTO mailbox_v3 (id, device_num, seq, msg_id, group_hash, epoch, kind, payload, enqueued_at)
	SELECT m.id, d.num, m.seq, m.msg_id, m.group_hash, m.epoch, m.kind, m.payload, m.enqueued_at
	FROM mailbox AS m JOIN devices AS d ON d.device_id = m.device_id;
DROP TABLE mailbox;
ALTER TABLE mailbox_v3 RENAME TO mailbox;
CREATE UNIQUE INDEX mailbox_by_device ON mailbox (device_num, seq);
`,
	// 4: each account's signed device list (opaque; the client signs and
	// verifies it), the latest version only (docs/spec/authentication.md §3).
	`
CREATE TABLE device_lists (
	account_id BLOB PRIMARY KEY,
	version    INTEGER NOT NULL,
	data       BLOB NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
}

// migrate brings the database at db to the newest schema.
func migrate(ctx context.Context, db *sql.DB) error {
	return runMigrations(ctx, db, "schema_version", migrations)
}

// runMigrations applies migrations not yet applied, one transaction each
// (store.SQL.MigrateStep); versionTable keeps how many are.
func runMigrations(ctx context.Context, db *sql.DB, versionTable string, migrations []string) error {
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: doing %s migration begin: %w", versionTable, err)
		}
		done, err := on(tx).MigrateStep(ctx, versionTable, migrations)
		if err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: doing %s migration commit: %w", versionTable, err)
		}
		if done {
			return nil
		}
	}
}
