package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/samizdat-project/samizdat/store"
)

// Sends are committed in batches (group commit), as store/sqlite's writer
// does, because a transaction per Send spends its time in round trips and
// in one fsync each: docs/benchmarks.md "Server store (PostgreSQL)".
//
// One goroutine, the batcher, takes every Send queued since its last batch
// and runs the batch's first stage on a connection of its own: in one
// pipelined round trip it begins a transaction, records the MsgIDs in
// seen_msgs, locks the recipients' device rows and, for commits, the
// groups' rows. It then decides each Send in Go, in queue order, as the
// transaction-per-Send code did, and hands the open transaction to a
// goroutine for the second stage (the writes and COMMIT, one more round
// trip), while it starts the next batch. So up to Options.Pipeline batches
// are committing at once.
//
// Ordering and the invariants (store.Store Enqueue):
//   - Locks are taken in one fixed order in every batch: seen ids sorted,
//     devices sorted, groups sorted. Batches of several nodes cannot wait in
//     a cycle on them; a deadlock that PostgreSQL still reports (another
//     transaction's order) reruns the first stage, before anything of the
//     batch is visible.
//   - A batch starts its first stage only after the first stage of the
//     batch before it has its locks; a later batch that shares a device or
//     a group waits for the earlier one's COMMIT and then reads its
//     committed last_seq and epoch (READ COMMITTED re-reads a row it waited
//     for). Sends queued one after another therefore get a device's seqs in
//     that order, and seqs are never reused: devices.last_seq only grows.
//   - RFC 9420 §14: a group's epoch row is locked FOR UPDATE for the whole
//     batch, and the Sends are decided in order, so the first commit of an
//     epoch wins, in the batch and across batches and nodes. An unknown
//     group gets a placeholder row (epoch -1) inside the transaction, so
//     two first commits on two nodes serialize on its unique key; the
//     placeholder is updated or deleted before COMMIT and never seen.
//   - A refused Send leaves nothing: its MsgID, inserted by the first
//     stage, is deleted again in the second.

// Options of the batcher (see Options).
const (
	defaultMaxBatch = 4096
	defaultPipeline = 4
	maxBatchBytes   = 32 << 20 // payload bytes in one batch; one Send of any size is always let in
)

// sendReq is one queued Send.
type sendReq struct {
	snd  store.Send // Recipients deduplicated
	done chan store.Answer
}

// Enqueue implements store.Store: the Send is queued and its answer awaited.
func (s *Store) Enqueue(ctx context.Context, snd store.Send) (store.Result, error) {
	r, err := s.queueSend(ctx, snd)
	if err != nil {
		return store.Result{}, err
	}
	return s.queueView().Await(ctx, "enqueue", r.done)
}

// EnqueueAsync queues snd behind every Send queued before it and returns at
// once; Sends queued one after another commit in that order (in one batch
// or in consecutive ones). ctx bounds only the queueing. The server
// pipelines a session's Sends with it (server.AsyncEnqueuer). The batcher
// answers every queued request, also when the store closes.
func (s *Store) EnqueueAsync(ctx context.Context, snd store.Send) store.PendingSend {
	r, err := s.queueSend(ctx, snd)
	if err != nil {
		return store.Refused(err)
	}
	return s.queueView().Pending("enqueue", r.done)
}

// queueSend validates snd and puts it in the batcher's queue.
func (s *Store) queueSend(ctx context.Context, snd store.Send) (*sendReq, error) {
	if err := store.ValidateSend(&snd); err != nil {
		return nil, err
	}
	if err := s.check("enqueue"); err != nil {
		return nil, err
	}
	snd.Recipients = store.UniqueRecipients(snd.Recipients)
	r := &sendReq{snd: snd, done: make(chan store.Answer, 1)}
	select {
	case s.reqs <- r:
		return r, nil
	case <-s.stopped:
		return nil, s.queueView().Closed("enqueue")
	case <-ctx.Done():
		return nil, fmt.Errorf("postgres: doing enqueue: %w", ctx.Err())
	}
}

// queueView is the batcher's queue as its callers see it.
func (s *Store) queueView() store.Queue { return store.Queue{Stopped: s.stopped, Pkg: "postgres"} }

// runBatcher is the batcher goroutine. It returns when the store closes,
// after answering every queued request and waiting for the batches that
// are committing.
func (s *Store) runBatcher() {
	defer func() {
		s.committing.Wait()
		close(s.stopped)
		store.RefuseQueued(s.reqs, func(r *sendReq) chan<- store.Answer { return r.done }, s.queueView().Closed("enqueue"))
	}()
	for {
		var batch []*sendReq
		select {
		case <-s.life.Done():
			return
		case r := <-s.reqs:
			batch = append(batch, r)
		}
		bytes := len(batch[0].snd.Payload)
	more:
		for len(batch) < s.maxBatch && bytes < maxBatchBytes {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				bytes += len(r.snd.Payload)
			default:
				break more
			}
		}
		if err := s.check("enqueue"); err != nil {
			answerAll(batch, err)
			continue
		}
		select { // a free commit stage
		case s.slots <- struct{}{}:
		case <-s.life.Done():
			answerAll(batch, s.queueView().Closed("enqueue"))
			return
		}
		b, err := s.firstStage(batch)
		if err != nil {
			<-s.slots
			answerAll(batch, err)
			continue
		}
		s.committing.Add(1)
		go func() {
			defer s.committing.Done()
			defer func() { <-s.slots }()
			s.secondStage(b)
		}()
	}
}

func answerAll(batch []*sendReq, err error) {
	for _, r := range batch {
		r.done <- store.Answer{Err: err}
	}
}

// openBatch is a batch whose first stage holds its locks in an open
// transaction on conn.
type openBatch struct {
	conn    *pooledConn
	reqs    []*sendReq
	resps   []store.Answer
	deliver [][]store.DeviceID // per request: the devices that got an entry

	unclaimed [][]byte // MsgIDs inserted but not kept: deleted again
	devIDs    [][]byte // devices whose last_seq moved, and to what
	devSeqs   []int64
	groupIDs  [][]byte // all groups of the batch's commits
	epochIDs  [][]byte // groups whose epoch moved, and to what
	epochs    []int64
	rows      mailboxRows
	now       int64
	started   time.Time
}

// mailboxRows are the batch's mailbox entries as column arrays: the rows
// (device, seq, index of their Send) and the Sends once each, so a payload
// for many recipients crosses the wire once.
type mailboxRows struct {
	dev   [][]byte
	seq   []int64
	send  []int32 // 1-based index into the Send columns
	msgID [][]byte
	group [][]byte
	epoch []int64
	kind  []int16
	data  [][]byte
}

// firstStage begins the batch's transaction, takes its locks and decides
// every Send. A deadlock reruns it; on any other error the connection is
// released and nothing of the batch is stored.
func (s *Store) firstStage(batch []*sendReq) (*openBatch, error) {
	for attempt := 1; ; attempt++ {
		b, err := s.tryFirstStage(batch)
		if err == nil || !retryable(err) || attempt == maxAttempts || s.life.Err() != nil {
			return b, err
		}
	}
}

func (s *Store) tryFirstStage(batch []*sendReq) (*openBatch, error) {
	ctx := s.life
	conn, err := s.acquire(ctx)
	if err != nil {
		return nil, s.wrap("enqueue", err)
	}
	b := &openBatch{conn: conn, reqs: batch, now: s.unix(), started: time.Now()}
	keys := batchKeys(batch)
	pb := &pgx.Batch{}
	pb.Queue(`BEGIN`)
	pb.Queue(`INSERT INTO seen_msgs (msg_id, seen_at) SELECT m, $2 FROM unnest($1::bytea[]) AS m ON CONFLICT (msg_id) DO NOTHING RETURNING msg_id`, keys.msgs, b.now)
	pb.Queue(`SELECT device_id, last_seq FROM devices WHERE device_id = ANY($1) ORDER BY device_id FOR NO KEY UPDATE`, keys.devs)
	if len(keys.groups) > 0 {
		pb.Queue(`INSERT INTO groups (group_hash, epoch, updated_at) SELECT g, -1, $2 FROM unnest($1::bytea[]) AS g ON CONFLICT (group_hash) DO NOTHING`, keys.groups, b.now)
		pb.Queue(`SELECT group_hash, epoch FROM groups WHERE group_hash = ANY($1) ORDER BY group_hash FOR UPDATE`, keys.groups)
	}
	st, err := readFirstStage(conn.conn().SendBatch(ctx, pb), len(keys.groups) > 0)
	if err != nil {
		conn.rollback()
		return nil, s.wrap("enqueue", err)
	}
	b.groupIDs = keys.groups
	b.decide(st)
	return b, nil
}

// keys are a batch's lock targets, each sorted and unique.
type keys struct{ msgs, devs, groups [][]byte }

func batchKeys(batch []*sendReq) keys {
	msgs := make(map[store.MsgID]struct{}, len(batch))
	devs := make(map[store.DeviceID]struct{}, len(batch))
	groups := make(map[store.GroupHash]struct{})
	for _, r := range batch {
		msgs[r.snd.MsgID] = struct{}{}
		for _, d := range r.snd.Recipients {
			devs[d] = struct{}{}
		}
		if r.snd.Kind == store.KindCommit {
			groups[r.snd.Group] = struct{}{}
		}
	}
	return keys{msgs: sortedKeys(msgs, msgBytes), devs: sortedKeys(devs, devBytes), groups: sortedKeys(groups, groupBytes)}
}

// firstState is what the first stage read, under its locks.
type firstState struct {
	fresh   map[store.MsgID]bool      // inserted by this batch: false until a Send keeps it
	lastSeq map[store.DeviceID]int64  // registered recipients
	epochs  map[store.GroupHash]int64 // -1: unknown before this batch
}

func readFirstStage(br pgx.BatchResults, withGroups bool) (st firstState, err error) {
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return st, err
	}
	st.fresh = make(map[store.MsgID]bool)
	if err := scanIDs(br, "seen_msgs", false, func(id store.MsgID, _ int64) { st.fresh[id] = false }); err != nil {
		return st, err
	}
	st.lastSeq = make(map[store.DeviceID]int64)
	if err := scanIDs(br, "devices", true, func(id store.DeviceID, seq int64) { st.lastSeq[id] = seq }); err != nil {
		return st, err
	}
	st.epochs = make(map[store.GroupHash]int64)
	if withGroups {
		if _, err := br.Exec(); err != nil {
			return st, err
		}
		if err := scanIDs(br, "groups", true, func(id store.GroupHash, epoch int64) { st.epochs[id] = epoch }); err != nil {
			return st, err
		}
	}
	return st, nil
}

// scanIDs reads the rows of br's next query, each an id of table (16 or
// 32 bytes, as K) and, withValue, an int64 after it, and hands each to
// put. An id of another length is a corrupt row.
func scanIDs[K ~[16]byte | ~[32]byte](br pgx.BatchResults, table string, withValue bool, put func(id K, v int64)) error {
	return scanRows(br, func(r pgx.Rows) error {
		var id []byte
		var v int64
		dest := []any{&id, &v}
		if !withValue {
			dest = dest[:1]
		}
		if err := r.Scan(dest...); err != nil {
			return err
		}
		var k K
		if len(id) != len(k) {
			return fmt.Errorf("corrupt %s row: id of %d bytes", table, len(id))
		}
		put(K(id), v)
		return nil
	})
}

func scanRows(br pgx.BatchResults, each func(pgx.Rows) error) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	return store.EachRow(rows, each)
}

// decide answers every Send of the batch in queue order, as one
// transaction per Send would have, and collects the writes.
func (b *openBatch) decide(st firstState) {
	b.resps = make([]store.Answer, len(b.reqs))
	b.deliver = make([][]store.DeviceID, len(b.reqs))
	movedDev := make(map[store.DeviceID]struct{})
	movedGroup := make(map[store.GroupHash]struct{})
	for i, r := range b.reqs {
		snd := &r.snd
		resp := &b.resps[i]
		if kept, fresh := st.fresh[snd.MsgID]; !fresh || kept {
			resp.Res.Duplicate = true
			if snd.Kind == store.KindCommit {
				resp.Res.CurrentEpoch = uint64(max(st.epochs[snd.Group], 0))
			}
			continue
		}
		kept, refused := st.registered(snd)
		if refused != nil {
			resp.Err = refused
			continue
		}
		resp.Res.Skipped = len(snd.Recipients) - len(kept)
		if len(kept) == 0 && snd.Kind != store.KindCommit {
			continue // nobody left to deliver to: nothing stored, the MsgID not remembered
		}
		if snd.Kind == store.KindCommit {
			// RFC 9420 §14 (sequencing of state changes): the Delivery
			// Service accepts one commit per epoch, the first to arrive.
			cur := st.epochs[snd.Group]
			if cur >= 0 && uint64(cur) != snd.Epoch {
				resp.Res = store.Result{CurrentEpoch: uint64(cur)}
				resp.Err = fmt.Errorf("postgres: doing enqueue of commit: %w", &store.StaleEpochError{Current: uint64(cur), Sent: snd.Epoch})
				continue
			}
			st.epochs[snd.Group] = int64(snd.Epoch + 1)
			movedGroup[snd.Group] = struct{}{}
			resp.Res.CurrentEpoch = snd.Epoch + 1
		}
		st.fresh[snd.MsgID] = true
		if len(kept) == 0 {
			continue // a commit to nobody: it only moves the group
		}
		b.queueRows(st, snd, kept, movedDev)
		b.deliver[i] = kept
	}
	for id, kept := range st.fresh {
		if !kept {
			b.unclaimed = append(b.unclaimed, id[:])
		}
	}
	for _, d := range sortedKeys(movedDev, devBytes) {
		b.devIDs = append(b.devIDs, d)
		b.devSeqs = append(b.devSeqs, st.lastSeq[store.DeviceID(d)])
	}
	for _, g := range sortedKeys(movedGroup, groupBytes) {
		b.epochIDs = append(b.epochIDs, g)
		b.epochs = append(b.epochs, st.epochs[store.GroupHash(g)])
	}
}

// registered returns snd's recipients that are registered. Every one must
// be, or the Send is refused (refused is its ErrNotFound answer), unless it
// asks to leave the others out (SkipUnregistered).
func (st firstState) registered(snd *store.Send) (kept []store.DeviceID, refused error) {
	for _, d := range snd.Recipients {
		if _, ok := st.lastSeq[d]; ok {
			kept = append(kept, d)
		} else if !snd.SkipUnregistered {
			return nil, fmt.Errorf("postgres: doing enqueue: recipient device %x: %w", d[:8], store.ErrNotFound)
		}
	}
	return kept, nil
}

// queueRows adds snd's mailbox rows, one per recipient in kept at its next
// seq, to the batch's insert, and notes the devices whose seq moved.
func (b *openBatch) queueRows(st firstState, snd *store.Send, kept []store.DeviceID, movedDev map[store.DeviceID]struct{}) {
	rows := &b.rows
	rows.msgID = append(rows.msgID, snd.MsgID[:])
	rows.group = append(rows.group, snd.Group[:])
	rows.epoch = append(rows.epoch, int64(snd.Epoch))
	rows.kind = append(rows.kind, int16(snd.Kind))
	rows.data = append(rows.data, snd.Payload)
	n := int32(len(rows.msgID))
	for _, d := range kept {
		st.lastSeq[d]++
		movedDev[d] = struct{}{}
		rows.dev = append(rows.dev, d[:])
		rows.seq = append(rows.seq, st.lastSeq[d])
		rows.send = append(rows.send, n)
	}
}

// secondStage writes the batch and commits it in one round trip, tells the
// watchers, then answers every Send.
func (s *Store) secondStage(b *openBatch) {
	// Not s.life: Close waits for a committing batch rather than leave
	// its outcome unknown.
	ctx := context.Background()
	pb := &pgx.Batch{}
	if len(b.unclaimed) > 0 {
		pb.Queue(`DELETE FROM seen_msgs WHERE msg_id = ANY($1)`, b.unclaimed)
	}
	if len(b.devIDs) > 0 {
		pb.Queue(`UPDATE devices AS d SET last_seq = v.s FROM unnest($1::bytea[], $2::bigint[]) AS v(id, s) WHERE d.device_id = v.id`, b.devIDs, b.devSeqs)
	}
	if len(b.epochIDs) > 0 {
		pb.Queue(`UPDATE groups AS g SET epoch = v.e, updated_at = $3 FROM unnest($1::bytea[], $2::bigint[]) AS v(h, e) WHERE g.group_hash = v.h`, b.epochIDs, b.epochs, b.now)
	}
	if len(b.groupIDs) > 0 {
		pb.Queue(`DELETE FROM groups WHERE group_hash = ANY($1) AND epoch = -1`, b.groupIDs)
	}
	if r := &b.rows; len(r.dev) > 0 {
		pb.Queue(`INSERT INTO mailbox (device_id, seq, msg_id, group_hash, epoch, kind, payload, enqueued_at)
			SELECT r.d, r.s, m.id, m.g, m.e, m.k, m.p, $9
			FROM unnest($1::bytea[], $2::bigint[], $3::int[]) AS r(d, s, i)
			JOIN unnest($4::bytea[], $5::bytea[], $6::bigint[], $7::smallint[], $8::bytea[]) WITH ORDINALITY AS m(id, g, e, k, p, n) ON m.n = r.i`,
			r.dev, r.seq, r.send, r.msgID, r.group, r.epoch, r.kind, r.data, b.now)
	}
	pb.Queue(`COMMIT`)
	err := s.conn2Exec(ctx, b.conn, pb)
	if err != nil {
		b.conn.rollback()
		err = s.wrap("enqueue commit", err)
		answerAll(b.reqs, err)
		return
	}
	b.conn.release()
	// Committed and visible: tell the watchers before answering (the
	// store.Store Watch contract).
	for _, d := range b.deliver {
		if len(d) > 0 {
			s.Announce(d)
		}
	}
	if s.onCommit != nil {
		s.onCommit(b.deliver)
	}
	if s.onBatch != nil {
		s.onBatch(len(b.reqs), time.Since(b.started))
	}
	for i, r := range b.reqs {
		r.done <- b.resps[i]
	}
}

// conn2Exec runs every statement of pb and returns the first error.
func (s *Store) conn2Exec(ctx context.Context, c *pooledConn, pb *pgx.Batch) error {
	br := c.conn().SendBatch(ctx, pb)
	var first error
	for range pb.Len() {
		if _, err := br.Exec(); err != nil && first == nil {
			first = err
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	return first
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
	if e < 0 { // a placeholder is never committed; defensive
		return 0, false, nil
	}
	return uint64(e), true, nil
}

// querier is what a pool and a transaction have in common.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
