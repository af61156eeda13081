package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/store"
)

// Pending implements store.Store.
func (s *Store) Pending(ctx context.Context, device store.DeviceID, afterSeq uint64, limit int) ([]store.Entry, error) {
	if err := store.ValidateLimit(limit); err != nil {
		return nil, err
	}
	if s.closed() {
		return nil, fmt.Errorf("store: doing pending: %w", store.ErrClosed)
	}
	if afterSeq > 1<<63-1 {
		return nil, nil // no seq is that large
	}
	return store.Collect(ctx, on(s.read), "pending", `SELECT `+store.EntryColumns+`
		FROM mailbox WHERE device_num = (SELECT num FROM devices WHERE device_id = ?) AND seq > ? ORDER BY seq LIMIT ?`,
		[]any{device[:], int64(afterSeq), limit}, store.ScanEntry)
}

// Ack implements store.Store. Acks ride in the writer's batches like Sends.
func (s *Store) Ack(ctx context.Context, device store.DeviceID, upToSeq uint64) error {
	if upToSeq > 1<<63-1 {
		upToSeq = 1<<63 - 1
	}
	return s.w.do(ctx, "ack", func(ctx context.Context, c *sql.Conn) error {
		// The deleted seqs raise the device's floor, so that they are never
		// handed out again (the next seq is above floor and mailbox).
		var num int64
		var newest sql.NullInt64
		err := c.QueryRowContext(ctx, `SELECT num, (SELECT max(seq) FROM mailbox WHERE device_num = devices.num AND seq <= ?)
			FROM devices WHERE device_id = ?`, int64(upToSeq), device[:]).Scan(&num, &newest)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // no such device, so no mailbox
		}
		if err == nil && newest.Valid {
			_, err = c.ExecContext(ctx, `UPDATE devices SET seq_floor = ?1 WHERE num = ?2 AND seq_floor < ?1`, newest.Int64, num)
			if err == nil {
				_, err = c.ExecContext(ctx, `DELETE FROM mailbox WHERE device_num = ? AND seq <= ?`, num, newest.Int64)
			}
		}
		if err != nil {
			return fmt.Errorf("store: doing ack: %w", err)
		}
		return nil
	})
}

// GroupEpoch implements store.Store.
func (s *Store) GroupEpoch(ctx context.Context, group store.GroupHash) (uint64, error) {
	if s.closed() {
		return 0, fmt.Errorf("store: doing group epoch: %w", store.ErrClosed)
	}
	var epoch int64
	err := s.read.QueryRowContext(ctx, `SELECT epoch FROM groups WHERE group_hash = ?`, group[:]).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: doing group epoch: %w", store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: doing group epoch: %w", err)
	}
	return uint64(epoch), nil
}

// ExpireSeen implements store.Store. The writer forgets the ids once the
// deletion is committed.
func (s *Store) ExpireSeen(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.w.do(ctx, "expire seen ids", func(ctx context.Context, c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, `DELETE FROM seen_msgs WHERE seen_at < ? RETURNING msg_id`, before.Unix())
		if err != nil {
			return fmt.Errorf("store: doing expire seen ids: %w", err)
		}
		defer rows.Close()
		var ids []store.MsgID // forgotten only if the whole statement succeeds
		var b []byte
		for rows.Next() {
			if err := rows.Scan(&b); err != nil {
				return fmt.Errorf("store: doing expire seen ids: %w", err)
			}
			if len(b) == len(store.MsgID{}) {
				ids = append(ids, store.MsgID(b))
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: doing expire seen ids: %w", err)
		}
		for _, id := range ids {
			s.w.ov.forget(id)
		}
		n = int64(len(ids))
		return nil
	})
	return n, err
}

// ExpireMailbox implements store.Store. Like Ack, it first raises the
// floors of the devices whose entries it deletes.
func (s *Store) ExpireMailbox(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.w.do(ctx, "expire mailbox entries", func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `UPDATE devices SET seq_floor = m.newest
			FROM (SELECT device_num, max(seq) AS newest FROM mailbox WHERE enqueued_at < ?1 GROUP BY device_num) AS m
			WHERE devices.num = m.device_num AND devices.seq_floor < m.newest`, before.Unix())
		if err == nil {
			var res sql.Result
			if res, err = c.ExecContext(ctx, `DELETE FROM mailbox WHERE enqueued_at < ?`, before.Unix()); err == nil {
				n, err = res.RowsAffected()
			}
		}
		if err != nil {
			return fmt.Errorf("store: doing expire mailbox entries: %w", err)
		}
		return nil
	})
	return n, err
}

// MailboxBytes returns the payload bytes waiting in device's mailbox (0 for
// an unknown device), for the server's quotas. SQLite keeps a blob's length
// in its record header, so this reads the rows, not the payloads.
func (s *Store) MailboxBytes(ctx context.Context, device store.DeviceID) (int64, error) {
	if s.closed() {
		return 0, fmt.Errorf("store: doing mailbox bytes: %w", store.ErrClosed)
	}
	var n int64
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(SUM(length(payload)), 0)
		FROM mailbox WHERE device_num = (SELECT num FROM devices WHERE device_id = ?)`, device[:]).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: doing mailbox bytes: %w", err)
	}
	return n, nil
}
