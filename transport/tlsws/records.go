package tlsws

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	utls "github.com/refraction-networking/utls"
)

// The peer's records, counted under TLS, for the replay's waits (shape.go).

// recordTypeApplicationData is the outer type of TLS 1.3's encrypted
// records (RFC 8446 §5.2), the client's Finished included.
const recordTypeApplicationData = 23

// recordCounter counts the encrypted TLS records arriving on a TCP conn,
// for the replay's waits (the TLS layer reads them when the tunnel reads).
type recordCounter struct {
	net.Conn
	records  atomic.Int64 // the peer's records arrived
	consumed atomic.Int64 // of those, the ones TLS read
	mu       sync.Mutex
	times    []time.Time   // when each record arrived (the first maxArrivals)
	read     recordScanner // the records TLS reads
	arrivals recordScanner // the records the read-ahead reads (readahead.go)
	s        atomic.Pointer[shaper]

	ahead  atomic.Pointer[readAhead] // reading ahead of TLS; nil when TLS reads the conn
	dlMu   sync.Mutex
	readDL time.Time // the read deadline TLS set last

	ticketAt atomic.Int64 // the client's: records TLS had read when the session ticket was handled (ticketWatch)
}

// ticketWatch is a client's session cache that stores nothing (so the
// ClientHello never offers resumption) and notes, in its recordCounter,
// when the server's session ticket was handled.
type ticketWatch struct{ rc *recordCounter }

func (w ticketWatch) Get(string) (*utls.ClientSessionState, bool) { return nil, false }

func (w ticketWatch) Put(_ string, _ *utls.ClientSessionState) {
	if w.rc.ticketAt.CompareAndSwap(0, w.rc.consumed.Load()) {
		if s := w.rc.s.Load(); s != nil {
			s.poke()
		}
	}
}

// maxArrivals bounds the arrival times a recordCounter keeps: more than
// any trace's records.
const maxArrivals = 4 * shapeTraceMaxLen

// arrived notes n records that arrived now and wakes the replay's wait.
func (rc *recordCounter) arrived(n int) {
	if n == 0 {
		return
	}
	rc.mu.Lock()
	for range min(n, maxArrivals-len(rc.times)) {
		rc.times = append(rc.times, time.Now())
	}
	rc.mu.Unlock()
	rc.records.Add(int64(n))
	if s := rc.s.Load(); s != nil {
		s.poke()
	}
}

// arrival returns when the n-th record (from 1) arrived.
func (rc *recordCounter) arrival(n int64) (time.Time, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if n < 1 || n > int64(len(rc.times)) {
		return time.Time{}, false
	}
	return rc.times[n-1], true
}

func (rc *recordCounter) Read(p []byte) (int, error) {
	if ra := rc.ahead.Load(); ra != nil {
		n, err, conn := ra.read(p)
		if !conn {
			rc.consumed.Add(int64(countRecords(&rc.read, p[:n])))
			return n, err
		}
		rc.ahead.Store(nil) // all read ahead was taken
	}
	n, err := rc.Conn.Read(p)
	k := countRecords(&rc.read, p[:n])
	rc.consumed.Add(int64(k))
	rc.arrived(k)
	return n, err
}

// SetReadDeadline keeps TLS's read deadline while reading ahead.
func (rc *recordCounter) SetReadDeadline(t time.Time) error {
	rc.dlMu.Lock()
	defer rc.dlMu.Unlock()
	rc.readDL = t
	if ra := rc.ahead.Load(); ra != nil && ra.setDeadline(t) {
		return nil
	}
	return rc.Conn.SetReadDeadline(t)
}

func (rc *recordCounter) SetDeadline(t time.Time) error {
	rc.SetReadDeadline(t)
	return rc.Conn.SetWriteDeadline(t)
}

// countRecords walks b with s and returns how many encrypted records
// (application data, RFC 8446 §5.2) end in it.
func countRecords(s *recordScanner, b []byte) int {
	n := 0
	for len(b) > 0 {
		k, ended := s.scan(b)
		b = b[k:]
		if ended && s.hdr[0] == recordTypeApplicationData {
			n++
		}
	}
	return n
}
