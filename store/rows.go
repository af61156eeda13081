package store

import (
	"fmt"
	"time"
)

// The SQL implementations (store/sqlite, store/postgres) lay the device and
// mailbox tables out alike; what follows decodes their rows once for both.

// Row is one result row as either SQL driver gives it (database/sql's Row
// and Rows, pgx's Row and Rows).
type Row interface{ Scan(dest ...any) error }

// DeviceColumns are the columns ScanDevice reads, in its order.
const DeviceColumns = `device_id, account_id, device_key, device_cert, created_at`

// ScanDevice decodes a row of DeviceColumns. A row whose ids have the wrong
// length is reported as corrupt rather than cut or padded.
func ScanDevice(row Row) (Device, error) {
	var d Device
	var id, account []byte
	var created int64
	if err := row.Scan(&id, &account, &d.Key, &d.Cert, &created); err != nil {
		return Device{}, err
	}
	if len(id) != len(d.ID) || len(account) != len(d.Account) {
		return Device{}, fmt.Errorf("corrupt device row: id of %d bytes, account of %d bytes", len(id), len(account))
	}
	d.ID, d.Account = DeviceID(id), AccountID(account)
	d.CreatedAt = time.Unix(created, 0)
	return d, nil
}

// EntryColumns are the mailbox columns ScanEntry reads, in its order.
const EntryColumns = `seq, msg_id, group_hash, epoch, kind, payload, enqueued_at`

// ScanEntry decodes a mailbox row of EntryColumns. A row whose ids have
// the wrong length is reported as corrupt.
func ScanEntry(row Row) (Entry, error) {
	var e Entry
	var seq, epoch, kind, at int64
	var msgID, group []byte
	if err := row.Scan(&seq, &msgID, &group, &epoch, &kind, &e.Payload, &at); err != nil {
		return Entry{}, err
	}
	if len(msgID) != len(e.MsgID) || len(group) != len(e.Group) {
		return Entry{}, fmt.Errorf("corrupt mailbox row at seq %d", seq)
	}
	e.Seq, e.Epoch, e.Kind, e.EnqueuedAt = uint64(seq), uint64(epoch), Kind(kind), time.Unix(at, 0)
	e.MsgID, e.Group = MsgID(msgID), GroupHash(group)
	return e, nil
}

// Rows is a result set as either SQL driver gives it (database/sql's Rows,
// pgx's Rows).
type Rows interface {
	Row
	Next() bool
	Err() error
}

// EachRow calls row for every row of rows in order and returns the first
// error, else rows.Err(). The caller closes rows.
func EachRow[R Rows](rows R, row func(R) error) error {
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
