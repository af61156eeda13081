package tlsws

import (
	"encoding/binary"
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
	records atomic.Int64
	mu      sync.Mutex
	times   []time.Time // when each record arrived (the first maxArrivals)
	need    int         // bytes left of the current record's body
	hdr     [5]byte     // the next record's header so far
	hn      int
	s       atomic.Pointer[shaper]

	ticketAt atomic.Int64 // the client's: records counted when the session ticket was handled (ticketWatch)
}

// ticketWatch is a client's session cache that stores nothing (so the
// ClientHello never offers resumption) and notes, in its recordCounter,
// when the server's session ticket was handled.
type ticketWatch struct{ rc *recordCounter }

func (w ticketWatch) Get(string) (*utls.ClientSessionState, bool) { return nil, false }

func (w ticketWatch) Put(_ string, _ *utls.ClientSessionState) {
	if w.rc.ticketAt.CompareAndSwap(0, w.rc.records.Load()) {
		if s := w.rc.s.Load(); s != nil {
			s.poke()
		}
	}
}

// maxArrivals bounds the arrival times a recordCounter keeps: more than
// any trace's records.
const maxArrivals = 4 * shapeTraceMaxLen

func (rc *recordCounter) count() {
	rc.mu.Lock()
	if len(rc.times) < maxArrivals {
		rc.times = append(rc.times, time.Now())
	}
	rc.mu.Unlock()
	rc.records.Add(1)
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
	n, err := rc.Conn.Read(p)
	b := p[:n]
	counted := false
	for len(b) > 0 {
		if rc.need > 0 {
			k := min(rc.need, len(b))
			rc.need -= k
			b = b[k:]
			if rc.need == 0 && rc.hdr[0] == recordTypeApplicationData {
				rc.count()
				counted = true
			}
			continue
		}
		k := copy(rc.hdr[rc.hn:], b)
		rc.hn += k
		b = b[k:]
		if rc.hn == 5 {
			rc.hn = 0
			rc.need = int(binary.BigEndian.Uint16(rc.hdr[3:]))
			if rc.need == 0 && rc.hdr[0] == recordTypeApplicationData {
				rc.count()
				counted = true
			}
		}
	}
	if s := rc.s.Load(); counted && s != nil {
		s.poke()
	}
	return n, err
}
