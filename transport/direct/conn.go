package direct

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"

	"github.com/samizdat-project/samizdat/internal/rawio"
)

// Conn is a dialed TCP connection whose first write leaves as two TCP
// segments cut at a random point, so that the first packet a censor reads
// has a random length (docs/spec/transports.md, "direct"). Everything
// after the first write is plain *net.TCPConn. Reads and writes go
// through raw system calls (internal/rawio): a relay's upstream conn
// forwards each message as it comes, and a Go system call would wake the
// runtime's sysmon thread for each one after an idle moment.
type Conn struct {
	*net.TCPConn
	io    net.Conn    // rawio.Wrap(TCPConn): Read and Write go through it
	mu    sync.Mutex  // held while the first write goes out, so no other write lands between its two halves
	wrote atomic.Bool // the first write is out
}

// newConn returns tc as a *Conn.
func newConn(tc *net.TCPConn) *Conn { return &Conn{TCPConn: tc, io: rawio.Wrap(tc)} }

// Read reads what has arrived, waiting for the first byte.
func (c *Conn) Read(b []byte) (int, error) { return c.io.Read(b) }

// The first segment's length is drawn in [minFirstSegment,
// maxFirstSegment]: shorter first writes leave whole, and the upper bound
// stays under the MSS of any usual path (IPv6's minimum MTU, 1,280 bytes,
// less headers), so the kernel never cuts the first segment at a fixed
// MSS-sized length instead.
const (
	minFirstSegment = 64
	maxFirstSegment = 1200
)

// firstCut returns where to cut a first write of n bytes: uniformly in
// [minFirstSegment, min(n, maxFirstSegment)] (n: not cut). Go sets
// TCP_NODELAY, so each of the two writes leaves at once as its own segment.
func firstCut(n int) int {
	if n <= minFirstSegment {
		return n
	}
	return minFirstSegment + rand.IntN(min(n, maxFirstSegment)-minFirstSegment+1)
}

// Write sends b; the first call cuts it in two (see Conn).
func (c *Conn) Write(b []byte) (int, error) {
	if c.wrote.Load() {
		return c.io.Write(b)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wrote.Load() {
		return c.io.Write(b)
	}
	defer c.wrote.Store(true)
	cut := firstCut(len(b))
	n, err := c.io.Write(b[:cut])
	if err != nil || cut == len(b) {
		return n, err
	}
	m, err := c.io.Write(b[cut:])
	return n + m, err
}

// ReadFrom is io.Copy's path: the first chunk goes through Write (cut),
// the rest through the kernel's splice as on a plain *net.TCPConn.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	var done int64
	if !c.wrote.Load() {
		buf := make([]byte, 32<<10)
		n, err := r.Read(buf)
		if n > 0 {
			w, werr := c.Write(buf[:n])
			done += int64(w)
			if werr != nil {
				return done, werr
			}
		}
		if err == io.EOF {
			return done, nil
		}
		if err != nil {
			return done, err
		}
	}
	m, err := c.TCPConn.ReadFrom(r)
	return done + m, err
}
