package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/samizdat-project/samizdat/store"
)

// Enqueue implements store.Store. One transaction takes, in this order:
// the MsgID's row in seen_msgs (a concurrent retry of the same MsgID waits
// for it and then finds it seen), the recipients' device rows sorted by id
// (so concurrent Sends to one device commit their seqs in seq order, and
// never deadlock), and for a commit the group's row (so one commit per
// epoch wins). A refused Send rolls the whole transaction back: nothing is
// enqueued and its MsgID is not remembered.
func (s *Store) Enqueue(ctx context.Context, snd store.Send) (store.Result, error) {
	if err := store.ValidateSend(&snd); err != nil {
		return store.Result{}, err
	}
	snd.Recipients = store.UniqueRecipients(snd.Recipients)
	var res store.Result
	var delivered []store.DeviceID
	err := s.inTx(ctx, "enqueue", func(tx pgx.Tx) (bool, error) {
		res, delivered = store.Result{}, nil
		return s.enqueue(ctx, tx, &snd, &res, &delivered)
	})
	if err != nil {
		return res, err
	}
	// Committed and visible: tell the watchers before answering (the
	// store.Store Watch contract).
	s.Announce(delivered)
	return res, nil
}

// enqueue is one attempt of Enqueue's transaction. It reports whether to
// commit; delivered gets the devices that got an entry.
func (s *Store) enqueue(ctx context.Context, tx pgx.Tx, snd *store.Send, res *store.Result, delivered *[]store.DeviceID) (bool, error) {
	now := s.unix()
	tag, err := tx.Exec(ctx, `INSERT INTO seen_msgs (msg_id, seen_at) VALUES ($1, $2) ON CONFLICT (msg_id) DO NOTHING`, snd.MsgID[:], now)
	if err != nil {
		return false, s.wrap("enqueue", err)
	}
	if tag.RowsAffected() == 0 {
		res.Duplicate = true
		if snd.Kind == store.KindCommit {
			cur, _, err := groupEpoch(ctx, tx, snd.Group, "")
			if err != nil {
				return false, s.wrap("enqueue", err)
			}
			res.CurrentEpoch = cur
		}
		return false, nil
	}

	// Lock the registered recipients; the others are refused or skipped.
	recipients := snd.Recipients
	registered, err := lockDevices(ctx, tx, recipients)
	if err != nil {
		return false, s.wrap("enqueue", err)
	}
	if len(registered) < len(recipients) {
		var kept []store.DeviceID
		for _, d := range recipients {
			if _, ok := registered[d]; ok {
				kept = append(kept, d)
			} else if !snd.SkipUnregistered {
				return false, fmt.Errorf("postgres: doing enqueue: recipient device %x: %w", d[:8], store.ErrNotFound)
			}
		}
		res.Skipped = len(recipients) - len(kept)
		recipients = kept
		if len(recipients) == 0 && snd.Kind != store.KindCommit {
			return false, nil // nobody left to deliver to: nothing stored, the MsgID not remembered
		}
	}

	if snd.Kind == store.KindCommit {
		// RFC 9420 §14 (sequencing of state changes): the Delivery
		// Service accepts one commit per epoch, the first to arrive.
		cur, known, err := groupEpoch(ctx, tx, snd.Group, " FOR UPDATE")
		if err != nil {
			return false, s.wrap("enqueue", err)
		}
		if !known {
			tag, err := tx.Exec(ctx, `INSERT INTO groups (group_hash, epoch, updated_at) VALUES ($1, $2, $3) ON CONFLICT (group_hash) DO NOTHING`,
				snd.Group[:], int64(snd.Epoch+1), now)
			if err != nil {
				return false, s.wrap("enqueue", err)
			}
			if tag.RowsAffected() == 0 { // another first commit won the race; it is committed now
				if cur, known, err = groupEpoch(ctx, tx, snd.Group, " FOR UPDATE"); err != nil {
					return false, s.wrap("enqueue", err)
				}
			}
		}
		if known && cur != snd.Epoch {
			res.CurrentEpoch = cur
			res.Skipped = 0
			return false, fmt.Errorf("postgres: doing enqueue of commit: %w", &store.StaleEpochError{Current: cur, Sent: snd.Epoch})
		}
		if known {
			if _, err := tx.Exec(ctx, `UPDATE groups SET epoch = $2, updated_at = $3 WHERE group_hash = $1`, snd.Group[:], int64(snd.Epoch+1), now); err != nil {
				return false, s.wrap("enqueue", err)
			}
		}
		res.CurrentEpoch = snd.Epoch + 1
	}
	if len(recipients) == 0 {
		return true, nil // a commit to nobody: it only moves the group
	}

	// Hand out the next seq of every recipient and append the entries.
	ids := make([][]byte, len(recipients))
	for i, d := range recipients {
		ids[i] = d[:]
	}
	_, err = tx.Exec(ctx, `
		WITH bumped AS (
			UPDATE devices SET last_seq = last_seq + 1 WHERE device_id = ANY($1) RETURNING device_id, last_seq
		)
		INSERT INTO mailbox (device_id, seq, msg_id, group_hash, epoch, kind, payload, enqueued_at)
		SELECT device_id, last_seq, $2, $3, $4, $5, $6, $7 FROM bumped`,
		ids, snd.MsgID[:], snd.Group[:], int64(snd.Epoch), int16(snd.Kind), snd.Payload, now)
	if err != nil {
		return false, s.wrap("enqueue", err)
	}
	*delivered = recipients
	return true, nil
}

// lockDevices locks the rows of the registered devices among ids, in id
// order, and returns them.
func lockDevices(ctx context.Context, tx pgx.Tx, ids []store.DeviceID) (map[store.DeviceID]struct{}, error) {
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b store.DeviceID) int { return bytes.Compare(a[:], b[:]) })
	args := make([][]byte, len(sorted))
	for i := range sorted {
		args[i] = sorted[i][:]
	}
	rows, err := tx.Query(ctx, `SELECT device_id FROM devices WHERE device_id = ANY($1) ORDER BY device_id FOR NO KEY UPDATE`, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make(map[store.DeviceID]struct{}, len(ids))
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if len(b) != len(store.DeviceID{}) {
			return nil, fmt.Errorf("corrupt devices row: id of %d bytes", len(b))
		}
		got[store.DeviceID(b)] = struct{}{}
	}
	return got, rows.Err()
}

// groupEpoch reads group g's epoch (lock: "", " FOR UPDATE" or " FOR
// SHARE") and whether g is known.
func groupEpoch(ctx context.Context, q querier, g store.GroupHash, lock string) (uint64, bool, error) {
	var e int64
	err := q.QueryRow(ctx, `SELECT epoch FROM groups WHERE group_hash = $1`+lock, g[:]).Scan(&e)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return uint64(e), true, nil
}

// querier is what a pool and a transaction have in common.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
