package securechan

import (
	"bytes"
	"testing"
)

// TestRecvReassemblesAroundOtherRecords: a message's fragments come out
// intact and in order when padding records, padded fragments and short
// fragments come between and after them.
func TestRecvReassemblesAroundOtherRecords(t *testing.T) {
	aead := benchAEAD(SuiteAES256GCM)
	part := func(i, n int) []byte { return bytes.Repeat([]byte{byte(i + 1)}, n) }
	var stream, want []byte
	seq := uint64(0)
	add := func(kind byte, data []byte, pad int) {
		stream = sealRecord(stream, aead, seq, kind, data, pad)
		seq++
		if kind == kindData || kind == kindDataLast {
			want = append(want, data...)
		}
	}
	add(kindData, part(0, maxRecordData), 0)
	add(kindPad, nil, 1000)
	add(kindData, part(1, 5), 200)
	add(kindData, part(2, 2), 0)
	add(kindPad, nil, maxRecordData)
	add(kindData, part(3, maxRecordData-40), 40)
	add(kindDataLast, part(4, 1), 3)
	c := newConn(&replayConn{buf: stream}, SuiteAES256GCM, aead, aead, DefaultMaxMessageSize, nil)
	got, err := c.Recv()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Recv: %d bytes, %v; want the %d bytes of the data records in order", len(got), err, len(want))
	}
}
