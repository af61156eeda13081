package tlsws

import (
	"encoding/binary"
	"net"
	"sync"
	"syscall"
)

// Record-aligned reading under TLS, so that a wsConn can tell whether the
// TLS layer would decrypt another record without waiting for the network.
//
// crypto/tls reads as much as the kernel has into its own buffer and
// returns one record's plaintext per Read; nothing in its API says whether
// another record is already buffered. Once aligned, corkConn hands TLS at
// most one record per Read and keeps what the kernel gave beyond it; what
// it keeps is then all TLS could have buffered, recordReady says whether a
// whole record is among it, and with noBlock set a Read that would need
// the network fails at once with a timeout (after one read(2) that does
// not wait, when the last read filled its buffer: the kernel may hold
// more), which TLS passes on without
// breaking the conn (crypto/tls and uTLS keep a conn usable after a
// net.Error whose Temporary() is true). Only bytes after a small record
// are kept: large records need no merging, and keeping costs a copy.
// wsConn.Read uses this to return
// every message already received in one call (coalesce.go). Alignment
// starts after the opening's replay (shape.go), whose waits count records
// as TLS reads them.

// recordScanner follows TLS record boundaries (RFC 8446 §5.1: a 5-byte
// header whose last two bytes are the body's length) through a byte stream.
type recordScanner struct {
	hdr  [5]byte // the current record's header so far
	hn   int     // header bytes seen
	body int     // body bytes left of the current record, once its header is whole
	last int     // the body length of the last record that ended
}

// scan walks b up to and including the end of the first record that ends
// in it. It returns how many bytes that is (len(b) when no record ends in
// b) and whether a record ended.
func (s *recordScanner) scan(b []byte) (n int, ended bool) {
	for n < len(b) {
		if s.hn < len(s.hdr) {
			k := copy(s.hdr[s.hn:], b[n:])
			s.hn += k
			n += k
			if s.hn < len(s.hdr) {
				return n, false
			}
			s.body = int(binary.BigEndian.Uint16(s.hdr[3:]))
		} else {
			k := min(s.body, len(b)-n)
			s.body -= k
			n += k
		}
		if s.hn == len(s.hdr) && s.body == 0 {
			s.hn = 0
			s.last = int(binary.BigEndian.Uint16(s.hdr[3:]))
			return n, true
		}
	}
	return n, false
}

// readState is corkConn's reading side; only the goroutine reading the
// TLS conn touches it (crypto/tls serialises its reads).
type readState struct {
	scan    recordScanner
	aligned bool    // Reads stop at record ends; set by align
	noBlock bool    // a Read that would wait for the network fails with a timeout
	kept    *[]byte // bytes read past the record end TLS is reading, from keptBufs
	keptOff int     // of *kept, the bytes already handed to TLS
	full    bool    // the last read from the kernel filled its buffer

	// sys reads the TCP conn itself, bypassing what wraps it (the
	// opening's record counter, the standalone's replayed hello), which
	// is done with by the time reads are aligned; nil when the conn
	// under us is no syscall.Conn (a proxy's).
	sys syscall.RawConn
}

// keptBufs holds the bytes read past a record end; a conn holds one only
// while such bytes wait.
var keptBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 2*(16<<10+512))
	return &b
}}

// align makes later Reads stop at record ends.
func (c *corkConn) align() {
	if rc, ok := c.Conn.(*recordCounter); ok && rc.pending() {
		return // what was read ahead of TLS (readahead.go) goes first
	}
	c.rd.aligned = true
	if sc, ok := bottomConn(c.Conn).(syscall.Conn); ok {
		c.rd.sys, _ = sc.SyscallConn()
	}
}

// bottomConn returns the conn under this package's wrappers.
func bottomConn(c net.Conn) net.Conn {
	for {
		switch w := c.(type) {
		case *recordCounter:
			c = w.Conn
		case *prefixConn:
			c = w.Conn
		default:
			return c
		}
	}
}

// mayHaveMore reports whether a Read might be served without waiting:
// a record is kept, or the kernel may hold more.
func (c *corkConn) mayHaveMore() bool {
	return c.rd.full && c.rd.sys != nil || c.recordReady()
}

// keptBytes returns what was read past the record end and not handed on.
func (c *corkConn) keptBytes() []byte {
	if c.rd.kept == nil {
		return nil
	}
	return (*c.rd.kept)[c.rd.keptOff:]
}

// recordReady reports whether a whole record (or the rest of the one TLS
// is reading) is kept, so that TLS would decrypt it without the network.
func (c *corkConn) recordReady() bool {
	s := c.rd.scan
	_, ended := s.scan(c.keptBytes())
	return ended
}

func (c *corkConn) Read(p []byte) (int, error) {
	if kept := c.keptBytes(); len(kept) > 0 {
		n, _ := c.rd.scan.scan(kept[:min(len(kept), len(p))])
		copy(p, kept[:n])
		c.rd.keptOff += n
		if c.rd.keptOff == len(*c.rd.kept) {
			*c.rd.kept = (*c.rd.kept)[:0]
			keptBufs.Put(c.rd.kept)
			c.rd.kept, c.rd.keptOff = nil, 0
		}
		return n, nil
	}
	if c.rd.noBlock {
		if !c.rd.full || c.rd.sys == nil {
			return 0, timeoutError{"reading"}
		}
		b := keptBufs.Get().(*[]byte)
		n := tryRead(c.rd.sys, (*b)[:cap(*b)])
		c.rd.full = n == cap(*b)
		if n == 0 {
			keptBufs.Put(b)
			return 0, timeoutError{"reading"}
		}
		*b = (*b)[:n]
		c.rd.kept, c.rd.keptOff = b, 0
		return c.Read(p)
	}
	n, err := c.Conn.Read(p)
	c.rd.full = n == len(p)
	if !c.rd.aligned {
		for done := 0; done < n; {
			k, _ := c.rd.scan.scan(p[done:n])
			done += k
		}
		return n, err
	}
	k, ended := c.rd.scan.scan(p[:n])
	if k < n && ended && c.rd.scan.last <= smallRecord {
		c.rd.kept = keptBufs.Get().(*[]byte)
		*c.rd.kept = append((*c.rd.kept)[:0], p[k:n]...)
		return k, err
	}
	// Large records: TLS takes all, as unaligned (a full record needs no
	// merging, and keeping would cost a copy).
	for k < n {
		m, _ := c.rd.scan.scan(p[k:n])
		k += m
	}
	return n, err
}

// smallRecord is the largest record body after which a Read keeps the
// bytes that follow: below it, records are small messages worth merging.
const smallRecord = 4 << 10
