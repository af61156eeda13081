package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/samizdat-project/samizdat/store"
)

// Enqueue implements store.Store.
func (s *Store) Enqueue(ctx context.Context, snd store.Send) (store.Result, error) {
	if err := store.ValidateSend(&snd); err != nil {
		return store.Result{}, err
	}
	snd.Recipients = store.UniqueRecipients(snd.Recipients)
	return s.w.submit(ctx, "enqueue", &request{send: &snd, done: make(chan store.Answer, 1)})
}

// EnqueueAsync is Enqueue without the wait, for a caller with several
// Sends in flight: it queues snd behind every request queued before it, so
// that Sends queued one after another commit in that order (in one batch or
// in consecutive ones), and returns at once. ctx bounds only the queueing.
func (s *Store) EnqueueAsync(ctx context.Context, snd store.Send) store.PendingSend {
	if err := store.ValidateSend(&snd); err != nil {
		return store.Refused(err)
	}
	snd.Recipients = store.UniqueRecipients(snd.Recipients)
	r := &request{send: &snd, done: make(chan store.Answer, 1)}
	if err := s.w.queue(ctx, "enqueue", r); err != nil {
		return store.Refused(err)
	}
	return s.w.queueView().Pending("enqueue", r.done)
}

type stmtKey struct {
	kind byte // 'm' mailbox insert, 's' seen insert, 'g' epoch upsert, 'l'/'e' single-row lookups
	rows int
}

// Rows per multi-row INSERT: one statement execution carries many rows
// (chunks of 32 to 500 rows measured the same within the noise).
const (
	mailboxChunk = 128 // 8 variables each
	seenChunk    = 256 // 2 variables each
)

// sends decides and writes a run of consecutive Sends of the batch.
// answers[i] is the answer of run[i].
func (w *writer) sends(ctx context.Context, run []*request, ov *overlay, answers []store.Answer) error {
	ov.sends += len(run)
	firstOf := make(map[store.MsgID]int, len(run))
	dupOf := make(map[int]int)
	var accepted []int
	var seqOf [][]uint64
	var groups []store.GroupHash
	for i, r := range run {
		s := r.send
		if j, ok := firstOf[s.MsgID]; ok {
			dupOf[i] = j
			continue
		}
		firstOf[s.MsgID] = i
		if w.isSeen(ov, s.MsgID) {
			res := store.Result{Duplicate: true}
			if s.Kind == store.KindCommit {
				cur, _, err := w.epoch(ctx, ov, s.Group)
				if err != nil {
					return err
				}
				res.CurrentEpoch = cur
			}
			answers[i] = store.Answer{Res: res}
			continue
		}
		recipients, skipped, refused, err := w.registered(ctx, ov, s)
		if err != nil {
			return err
		}
		if refused != nil {
			answers[i] = store.Answer{Err: refused}
			continue
		}
		s.Recipients = recipients
		if len(s.Recipients) == 0 && s.Kind != store.KindCommit {
			answers[i] = store.Answer{Res: store.Result{Skipped: skipped}} // nobody left to deliver to
			continue
		}
		answers[i].Res.Skipped = skipped
		if s.Kind == store.KindCommit {
			// RFC 9420 §14 (sequencing of state changes): the Delivery
			// Service accepts one commit per epoch, the first to arrive.
			cur, known, err := w.epoch(ctx, ov, s.Group)
			if err != nil {
				return err
			}
			if known && cur != s.Epoch {
				answers[i] = store.Answer{
					Res: store.Result{CurrentEpoch: cur},
					Err: fmt.Errorf("store: doing enqueue of commit: %w", &store.StaleEpochError{Current: cur, Sent: s.Epoch}),
				}
				continue
			}
			groups = append(groups, s.Group)
			ov.epochs[s.Group] = s.Epoch + 1
			answers[i].Res.CurrentEpoch = s.Epoch + 1
		}
		ov.seen[s.MsgID] = struct{}{}
		accepted = append(accepted, i)
		seqOf = append(seqOf, w.nextSeqs(ctx, ov, s.Recipients))
	}
	for i, j := range dupOf {
		answers[i] = answers[j]
		if answers[i].Err == nil {
			answers[i].Res.Duplicate = true
		}
	}
	return w.writeSends(ctx, run, accepted, seqOf, groups, ov)
}

// registered returns s's recipients that are registered and how many it
// left out. Every recipient must be registered, or the Send is refused
// (refused is its ErrNotFound answer), unless it asks to leave the others
// out (SkipUnregistered). The Send's own slice is never modified: it is
// the caller's.
func (w *writer) registered(ctx context.Context, ov *overlay, s *store.Send) (recipients []store.DeviceID, skipped int, refused, err error) {
	recipients = s.Recipients
	for k := 0; k < len(recipients); k++ {
		d := recipients[k]
		if _, ok, err := w.seq(ctx, ov, d); err != nil {
			return nil, 0, nil, err
		} else if ok {
			continue
		}
		if !s.SkipUnregistered {
			return nil, 0, fmt.Errorf("store: doing enqueue: recipient device %x: %w", d[:8], store.ErrNotFound), nil
		}
		if skipped == 0 { // copy before the first removal
			recipients = slices.Clone(recipients)
		}
		recipients = slices.Delete(recipients, k, k+1)
		k--
		skipped++
	}
	return recipients, skipped, nil, nil
}

// nextSeqs takes the next mailbox seq of each recipient (all loaded into
// the overlay by registered) and marks the devices touched.
func (w *writer) nextSeqs(ctx context.Context, ov *overlay, recipients []store.DeviceID) []uint64 {
	seqs := make([]uint64, len(recipients))
	for k, d := range recipients {
		ds, _, _ := w.seq(ctx, ov, d) // loaded by registered
		if _, ok := ov.touchedSet[d]; !ok {
			ov.touchedSet[d] = struct{}{}
			ov.touched = append(ov.touched, d)
		}
		ds.last++
		ov.devs[d] = ds
		seqs[k] = ds.last
	}
	return seqs
}

// isSeen reports whether id is in seen_msgs as the open transaction sees it.
func (w *writer) isSeen(ov *overlay, id store.MsgID) bool {
	if _, ok := ov.seen[id]; ok {
		return true
	}
	if _, ok := ov.forgotten[id]; ok {
		return false
	}
	_, ok := w.seen[id]
	return ok
}

// seq returns device d's number and last seq as the open transaction sees
// them, and whether d is registered. The last seq is max(seq_floor, its
// newest mailbox entry).
func (w *writer) seq(ctx context.Context, ov *overlay, d store.DeviceID) (devSeq, bool, error) {
	if v, ok := ov.devs[d]; ok {
		return v, true, nil
	}
	if v, ok := w.devs[d]; ok {
		return v, true, nil
	}
	st, err := w.stmt(ctx, stmtKey{'l', 1})
	if err != nil {
		return devSeq{}, false, err
	}
	var num, floor int64
	var newest sql.NullInt64
	err = st.QueryRowContext(ctx, d[:]).Scan(&num, &floor, &newest)
	if errors.Is(err, sql.ErrNoRows) {
		return devSeq{}, false, nil
	}
	if err != nil {
		return devSeq{}, false, err
	}
	v := devSeq{num: num, last: uint64(max(floor, newest.Int64))}
	ov.devs[d] = v // not yet the committed state: the transaction may have registered d
	return v, true, nil
}

// epoch returns group g's epoch as the open transaction sees it, and whether g is known.
func (w *writer) epoch(ctx context.Context, ov *overlay, g store.GroupHash) (uint64, bool, error) {
	if v, ok := ov.epochs[g]; ok {
		return v, true, nil
	}
	if v, ok := w.epochs[g]; ok {
		return v, true, nil
	}
	st, err := w.stmt(ctx, stmtKey{'e', 1})
	if err != nil {
		return 0, false, err
	}
	var v int64
	err = st.QueryRowContext(ctx, g[:]).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	w.epochs[g] = uint64(v) // groups are only written by this goroutine, so this is committed state
	return uint64(v), true, nil
}

// writeSends inserts the accepted Sends' seen ids and mailbox rows, and
// moves the groups' epochs. Both inserts append: mailbox and seen_msgs by
// rowid, mailbox_by_device at each device's end, seen_msgs_by_time at the
// end; nothing is updated per message.
func (w *writer) writeSends(ctx context.Context, run []*request, accepted []int, seqOf [][]uint64, groups []store.GroupHash, ov *overlay) error {
	now := w.s.unix()
	seenArgs := make([]any, 0, 2*min(len(accepted), seenChunk))
	mailArgs := make([]any, 0, 8*min(len(accepted), mailboxChunk))
	flushSeen := func() error {
		if len(seenArgs) == 0 {
			return nil
		}
		err := w.exec(ctx, stmtKey{'s', len(seenArgs) / 2}, seenArgs)
		seenArgs = seenArgs[:0]
		return err
	}
	flushMail := func() error {
		if len(mailArgs) == 0 {
			return nil
		}
		err := w.exec(ctx, stmtKey{'m', len(mailArgs) / 8}, mailArgs)
		mailArgs = mailArgs[:0]
		return err
	}
	for k, i := range accepted {
		s := run[i].send
		seenArgs = append(seenArgs, s.MsgID[:], now)
		if len(seenArgs) == 2*seenChunk {
			if err := flushSeen(); err != nil {
				return err
			}
		}
		for j, d := range s.Recipients {
			mailArgs = append(mailArgs, ov.devs[d].num, int64(seqOf[k][j]), s.MsgID[:], s.Group[:], int64(s.Epoch), int64(s.Kind), s.Payload, now)
			if len(mailArgs) == 8*mailboxChunk {
				if err := flushMail(); err != nil {
					return err
				}
			}
		}
	}
	if err := flushSeen(); err != nil {
		return err
	}
	if err := flushMail(); err != nil {
		return err
	}
	for _, g := range groups {
		if err := w.exec(ctx, stmtKey{'g', 1}, []any{g[:], int64(ov.epochs[g]), now}); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) exec(ctx context.Context, k stmtKey, args []any) error {
	st, err := w.stmt(ctx, k)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// stmt returns the prepared statement of shape k on the write connection.
func (w *writer) stmt(ctx context.Context, k stmtKey) (*sql.Stmt, error) {
	st, ok := w.stmts[k]
	if !ok {
		var err error
		st, err = w.conn.PrepareContext(ctx, stmtSQL(k))
		if err != nil {
			return nil, err
		}
		w.stmts[k] = st
	}
	return st, nil
}

func stmtSQL(k stmtKey) string {
	switch k.kind {
	// OR FAIL: a failing row fails the statement without undoing its
	// earlier rows, so SQLite keeps no statement journal (a copy of every
	// page the statement touches); any error fails the whole batch anyway.
	case 'm':
		return "INSERT OR FAIL INTO mailbox (device_num, seq, msg_id, group_hash, epoch, kind, payload, enqueued_at) VALUES " + placeholders(k.rows, 8)
	case 's':
		return "INSERT OR FAIL INTO seen_msgs (msg_id, seen_at) VALUES " + placeholders(k.rows, 2)
	case 'l':
		return "SELECT num, seq_floor, (SELECT max(seq) FROM mailbox WHERE device_num = devices.num) FROM devices WHERE device_id = ?"
	case 'e':
		return "SELECT epoch FROM groups WHERE group_hash = ?"
	case 'g':
		return "INSERT INTO groups (group_hash, epoch, updated_at) VALUES (?, ?, ?) ON CONFLICT (group_hash) DO UPDATE SET epoch = excluded.epoch, updated_at = excluded.updated_at"
	}
	panic("sqlite: unknown statement kind")
}

// placeholders returns "(?,?),(?,?)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}
