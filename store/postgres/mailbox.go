package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/samizdat-project/samizdat/store"
)

// maxSeq is the largest seq a bigint column holds.
const maxSeq = 1<<63 - 1

// Pending implements store.Store. Seqs of one device are handed out under
// its row lock and committed in order, so a reader never sees a later seq
// before an earlier one that will still appear.
func (s *Store) Pending(ctx context.Context, device store.DeviceID, afterSeq uint64, limit int) ([]store.Entry, error) {
	if err := store.ValidateLimit(limit); err != nil {
		return nil, err
	}
	if err := s.check("pending"); err != nil {
		return nil, err
	}
	if afterSeq > maxSeq {
		return nil, nil // no seq is that large
	}
	return store.Collect(ctx, s.on(s.pool), "pending", `SELECT `+store.EntryColumns+`
		FROM mailbox WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?`, []any{device[:], int64(afterSeq), limit}, store.ScanEntry)
}

// Ack implements store.Store. devices.last_seq keeps the deleted seqs from
// being handed out again.
func (s *Store) Ack(ctx context.Context, device store.DeviceID, upToSeq uint64) error {
	if err := s.check("ack"); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM mailbox WHERE device_id = $1 AND seq <= $2`, device[:], int64(min(upToSeq, maxSeq))); err != nil {
		return s.wrap("ack", err)
	}
	return nil
}

// GroupEpoch implements store.Store.
func (s *Store) GroupEpoch(ctx context.Context, group store.GroupHash) (uint64, error) {
	if err := s.check("group epoch"); err != nil {
		return 0, err
	}
	e, known, err := groupEpoch(ctx, s.pool, group, "")
	if err != nil {
		return 0, s.wrap("group epoch", err)
	}
	if !known {
		return 0, fmt.Errorf("postgres: doing group epoch: %w", store.ErrNotFound)
	}
	return e, nil
}

// PutGroupInfo implements store.Store. The group row is share-locked, so a
// commit cannot move the epoch between the check and the write.
func (s *Store) PutGroupInfo(ctx context.Context, group store.GroupHash, epoch uint64, info []byte) error {
	if err := store.ValidateGroupInfo(info); err != nil {
		return err
	}
	now := s.unix()
	return s.inTx(ctx, "put group info", func(tx pgx.Tx) (bool, error) {
		cur, known, err := groupEpoch(ctx, tx, group, " FOR SHARE")
		if err != nil {
			return false, s.wrap("put group info", err)
		}
		if !known {
			return false, fmt.Errorf("postgres: doing put group info: no commit for this group yet: %w", store.ErrNotFound)
		}
		// wire.md §6.7: only the current epoch's GroupInfo is useful.
		if cur != epoch {
			return false, fmt.Errorf("postgres: doing put group info: %w", &store.StaleEpochError{Current: cur, Sent: epoch})
		}
		_, err = tx.Exec(ctx, `INSERT INTO group_info (group_hash, epoch, data, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (group_hash) DO UPDATE SET epoch = excluded.epoch, data = excluded.data, updated_at = excluded.updated_at`,
			group[:], int64(epoch), info, now)
		if err != nil {
			return false, s.wrap("put group info", err)
		}
		return true, nil
	})
}

// GroupInfo implements store.Store.
func (s *Store) GroupInfo(ctx context.Context, group store.GroupHash) (uint64, []byte, error) {
	return s.numberAndBlob(ctx, "get group info", `SELECT epoch, data FROM group_info WHERE group_hash = ?`, group[:]) // devicelists.go
}

// ExpireSeen implements store.Store.
func (s *Store) ExpireSeen(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteBefore(ctx, "expire seen ids", `DELETE FROM seen_msgs WHERE seen_at < $1`, before)
}

// ExpireMailbox implements store.Store.
func (s *Store) ExpireMailbox(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteBefore(ctx, "expire mailbox entries", `DELETE FROM mailbox WHERE enqueued_at < $1`, before)
}

// deleteBefore runs query, a DELETE of the rows older than $1, with
// before's Unix time, and returns how many went.
func (s *Store) deleteBefore(ctx context.Context, op, query string, before time.Time) (int64, error) {
	if err := s.check(op); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, query, before.Unix())
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return tag.RowsAffected(), nil
}

// MailboxBytes returns the payload bytes waiting in device's mailbox (0 for
// an unknown device), for the server's quotas.
func (s *Store) MailboxBytes(ctx context.Context, device store.DeviceID) (int64, error) {
	if err := s.check("mailbox bytes"); err != nil {
		return 0, err
	}
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(octet_length(payload)), 0)::bigint FROM mailbox WHERE device_id = $1`, device[:]).Scan(&n)
	if err != nil {
		return 0, s.wrap("mailbox bytes", err)
	}
	return n, nil
}
