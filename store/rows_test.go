package store

import (
	"bytes"
	"strings"
	"testing"
)

// fakeRow scans fixed column values the way a driver does: []byte and
// int64 columns into *[]byte and *int64 destinations.
type fakeRow []any

func (r fakeRow) Scan(dest ...any) error {
	for i, d := range dest {
		switch d := d.(type) {
		case *[]byte:
			*d = r[i].([]byte)
		case *int64:
			*d = r[i].(int64)
		}
	}
	return nil
}

func TestScanDevice(t *testing.T) {
	id, account := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	d, err := ScanDevice(fakeRow{id, account, []byte("key"), []byte("cert"), int64(1700000000)})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != DeviceID(id) || d.Account != AccountID(account) || string(d.Key) != "key" || d.CreatedAt.Unix() != 1700000000 {
		t.Fatalf("decoded %+v", d)
	}
	// A row with a cut id must not become a zero-padded DeviceID.
	if _, err := ScanDevice(fakeRow{id[:31], account, []byte("key"), []byte("cert"), int64(0)}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("31-byte device id: err = %v, want a corrupt-row error", err)
	}
}

func TestScanEntry(t *testing.T) {
	msgID, group := bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{4}, 32)
	e, err := ScanEntry(fakeRow{int64(7), msgID, group, int64(9), int64(KindCommit), []byte("p"), int64(5)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 7 || e.Epoch != 9 || e.Kind != KindCommit || e.MsgID != MsgID(msgID) || e.Group != GroupHash(group) || string(e.Payload) != "p" {
		t.Fatalf("decoded %+v", e)
	}
	if _, err := ScanEntry(fakeRow{int64(7), msgID, group[:31], int64(9), int64(KindCommit), []byte("p"), int64(5)}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("31-byte group hash: err = %v, want a corrupt-row error", err)
	}
}
