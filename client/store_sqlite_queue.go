//go:build !js

package client

import "database/sql"

// The outbox and pending tables of the SQLite store (store_sqlite.go).

func (s *sqliteTx) addOutbox(v []byte) (int64, error) {
	return s.insert(`INSERT INTO outbox (v) VALUES (?)`, v)
}

func (s *sqliteTx) outbox() ([]outboxRow, error) {
	return queryAll(s.t, `SELECT o.id, o.v, f.at, f.reason FROM outbox o LEFT JOIN outbox_failed f ON f.id = o.id ORDER BY o.id`, nil, func(rows *sql.Rows, r *outboxRow) error {
		var at sql.NullInt64
		err := rows.Scan(&r.id, &r.v, &at, &r.reason)
		r.failed, r.failedAt = at.Valid, at.Int64
		return err
	}) // store_sqlite.go
}

func (s *sqliteTx) nextOutbox() (outboxRow, bool, error) {
	var r outboxRow
	ok, err := row(s.t.QueryRow(`SELECT id, v FROM outbox WHERE id NOT IN (SELECT id FROM outbox_failed) ORDER BY id LIMIT 1`).Scan(&r.id, &r.v))
	return r, ok, err
}

func (s *sqliteTx) countOutbox() (int, error) {
	var n int
	err := s.t.QueryRow(`SELECT count(*) FROM outbox WHERE id NOT IN (SELECT id FROM outbox_failed)`).Scan(&n)
	return n, err
}

func (s *sqliteTx) failOutbox(id, at int64, reason []byte) error {
	_, err := s.t.Exec(`INSERT INTO outbox_failed (id, at, reason) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at, reason = excluded.reason`, id, at, reason)
	return err
}

func (s *sqliteTx) affected(q string, args ...any) (int, error) {
	res, err := s.t.Exec(q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *sqliteTx) delOutbox(id int64) (bool, error) {
	n, err := s.affected(`DELETE FROM outbox WHERE id = ?`, id)
	return n == 1, err
}

func (s *sqliteTx) unfailOutbox(id int64) (int, error) {
	if id == 0 {
		return s.affected(`DELETE FROM outbox_failed`)
	}
	return s.affected(`DELETE FROM outbox_failed WHERE id = ?`, id)
}

func (s *sqliteTx) dropOutbox(id int64) (int, error) {
	if id == 0 {
		n, err := s.affected(`DELETE FROM outbox WHERE id IN (SELECT id FROM outbox_failed)`)
		if err != nil {
			return 0, err
		}
		_, err = s.t.Exec(`DELETE FROM outbox_failed`)
		return n, err
	}
	n, err := s.affected(`DELETE FROM outbox WHERE id = ?`, id)
	if err != nil {
		return 0, err
	}
	_, err = s.t.Exec(`DELETE FROM outbox_failed WHERE id = ?`, id)
	return n, err
}

func (s *sqliteTx) addPending(r pendingRow) error {
	_, err := s.t.Exec(`INSERT INTO pending (grp, epoch, arrived, v) VALUES (?, ?, ?, ?)`, r.grp, r.epoch, r.arrived, r.v)
	return err
}

func (s *sqliteTx) nextPending(grp []byte, maxEpoch int64) (pendingRow, bool, error) {
	r := pendingRow{grp: grp}
	ok, err := row(s.t.QueryRow(`SELECT id, epoch, arrived, v FROM pending WHERE grp = ? AND epoch <= ? ORDER BY id LIMIT 1`,
		grp, maxEpoch).Scan(&r.id, &r.epoch, &r.arrived, &r.v))
	return r, ok, err
}

func (s *sqliteTx) delPending(id int64) error {
	_, err := s.t.Exec(`DELETE FROM pending WHERE id = ?`, id)
	return err
}

func (s *sqliteTx) dropPendingBefore(grp []byte, epoch int64) error {
	_, err := s.t.Exec(`DELETE FROM pending WHERE grp = ? AND epoch < ?`, grp, epoch)
	return err
}

func (s *sqliteTx) countPending(grp []byte) (int, error) {
	var n int
	var err error
	if grp == nil {
		err = s.t.QueryRow(`SELECT count(*) FROM pending`).Scan(&n)
	} else {
		err = s.t.QueryRow(`SELECT count(*) FROM pending WHERE grp = ?`, grp).Scan(&n)
	}
	return n, err
}

func (s *sqliteTx) listPending(f pendingFilter) ([]pendingRow, error) {
	q, args := `SELECT id, grp, epoch, arrived, v FROM pending WHERE 1`, []any{}
	if f.grp != nil {
		q, args = q+` AND grp = ?`, append(args, f.grp)
	}
	if f.arrivedBefore != 0 {
		q, args = q+` AND arrived < ?`, append(args, f.arrivedBefore)
	}
	q += ` ORDER BY id`
	if f.limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.limit)
	}
	return queryAll(s.t, q, args, func(rows *sql.Rows, r *pendingRow) error {
		return rows.Scan(&r.id, &r.grp, &r.epoch, &r.arrived, &r.v)
	})
}
