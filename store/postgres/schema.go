package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are applied in order, each in its own transaction together
// with the samizdat_schema_version bump. Append; never edit a released
// step. The tables hold what store/sqlite's hold (docs/what-the-server-knows.md),
// with one difference: devices.last_seq is the last seq handed out to the
// device, bumped under the device row's lock by every Send, so a seq is
// never reused whatever is acknowledged or expired.
var migrations = []string{
	// 1: the messaging core and broadcast channels.
	`
CREATE TABLE devices (
	device_id   bytea PRIMARY KEY,
	account_id  bytea NOT NULL,
	device_key  bytea NOT NULL,
	device_cert bytea NOT NULL,
	created_at  bigint NOT NULL,
	last_seq    bigint NOT NULL DEFAULT 0
);
CREATE INDEX devices_by_account ON devices (account_id, created_at, device_id);

CREATE TABLE revoked_devices (
	device_id  bytea PRIMARY KEY,
	revoked_at bigint NOT NULL
);

CREATE TABLE key_packages (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	device_id   bytea NOT NULL,
	data        bytea NOT NULL,
	last_resort boolean NOT NULL
);
CREATE INDEX key_packages_by_device ON key_packages (device_id, last_resort, id);
CREATE UNIQUE INDEX key_packages_last_resort ON key_packages (device_id) WHERE last_resort;

CREATE TABLE mailbox (
	device_id   bytea NOT NULL,
	seq         bigint NOT NULL,
	msg_id      bytea NOT NULL,
	group_hash  bytea NOT NULL,
	epoch       bigint NOT NULL,
	kind        smallint NOT NULL,
	payload     bytea NOT NULL,
	enqueued_at bigint NOT NULL,
	PRIMARY KEY (device_id, seq)
);
CREATE INDEX mailbox_by_time ON mailbox (enqueued_at);

CREATE TABLE seen_msgs (
	msg_id  bytea PRIMARY KEY,
	seen_at bigint NOT NULL
);
CREATE INDEX seen_msgs_by_time ON seen_msgs (seen_at);

CREATE TABLE groups (
	group_hash bytea PRIMARY KEY,
	epoch      bigint NOT NULL,
	updated_at bigint NOT NULL
);

CREATE TABLE group_info (
	group_hash bytea PRIMARY KEY,
	epoch      bigint NOT NULL,
	data       bytea NOT NULL,
	updated_at bigint NOT NULL
);

CREATE TABLE channels (
	channel_id bytea PRIMARY KEY,
	descriptor bytea NOT NULL,
	last_seq   bigint NOT NULL DEFAULT 0,
	created_at bigint NOT NULL
);

CREATE TABLE channel_posts (
	channel_id bytea NOT NULL,
	seq        bigint NOT NULL,
	post       bytea NOT NULL,
	views      bigint NOT NULL DEFAULT 0,
	posted_at  bigint NOT NULL,
	PRIMARY KEY (channel_id, seq)
);

CREATE TABLE channel_revocations (
	channel_id bytea NOT NULL,
	admin_key  bytea NOT NULL,
	seq        bigint NOT NULL,
	PRIMARY KEY (channel_id, admin_key)
);
`,
	// 2: each account's signed device list (opaque), the latest version
	// only (docs/spec/authentication.md §3).
	`
CREATE TABLE device_lists (
	account_id bytea PRIMARY KEY,
	version    bigint NOT NULL,
	data       bytea NOT NULL,
	updated_at bigint NOT NULL
);
`,
}

// migrateLock is the advisory-lock key that serializes migrations, so that
// several servers opening one database at once migrate it once.
const migrateLock = 0x73616d697a646174 // "samizdat"

// migrate brings the database to the newest schema.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	for {
		done, err := migrateStep(ctx, pool)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration, if any, and reports whether the
// schema is now the newest. The advisory lock makes a second server wait
// for the first's step.
func migrateStep(ctx context.Context, pool *pgxpool.Pool) (done bool, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: doing migration begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
		return false, fmt.Errorf("postgres: doing migration lock: %w", err)
	}
	done, err = pgSQL(tx, wrapOp).MigrateStep(ctx, "samizdat_schema_version", migrations)
	if err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("postgres: doing migration commit: %w", err)
	}
	return done, nil
}
