package memnet

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/samizdat-project/samizdat/censor"
)

type segment struct {
	data []byte
	at   time.Time // deliverable from (engine clock)
}

// pipe is one direction of a connection.
type pipe struct {
	mu     sync.Mutex // guards the fields below
	segs   []segment
	eof    bool  // the writer closed its side (FIN)
	err    error // set on reset
	notify chan struct{}
}

func newPipe() *pipe { return &pipe{notify: make(chan struct{})} }

// signal wakes every waiter; p.mu must be held.
func (p *pipe) signal() {
	close(p.notify)
	p.notify = make(chan struct{})
}

// Conn is one end of an in-memory TCP connection.
type Conn struct {
	clock         censor.Clock
	flow          *censor.Flow // nil when the network has no engine
	dir           censor.Direction
	local, remote netip.AddrPort
	in, out       *pipe

	wmu sync.Mutex // serializes Write so judged segments stay in order

	mu            sync.Mutex // guards the fields below
	closed        bool
	writeClosed   bool
	readDeadline  time.Time
	writeDeadline time.Time
	deadlineMoved chan struct{}
}

func newPair(clock censor.Clock, flow *censor.Flow, client, server netip.AddrPort) (*Conn, *Conn) {
	c2s, s2c := newPipe(), newPipe()
	c := &Conn{clock: clock, flow: flow, dir: censor.ClientToServer, local: client, remote: server,
		in: s2c, out: c2s, deadlineMoved: make(chan struct{})}
	s := &Conn{clock: clock, flow: flow, dir: censor.ServerToClient, local: server, remote: client,
		in: c2s, out: s2c, deadlineMoved: make(chan struct{})}
	return c, s
}

var _ net.Conn = (*Conn)(nil)

// LocalAddr returns the local *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.local) }

// RemoteAddr returns the peer's *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

func (c *Conn) op(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads bytes the peer wrote and the censor let through.
func (c *Conn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		closed, deadline, moved := c.closed, c.readDeadline, c.deadlineMoved
		c.mu.Unlock()
		if closed {
			return 0, c.op("read", net.ErrClosed)
		}
		p := c.in
		p.mu.Lock()
		if p.err != nil {
			p.mu.Unlock()
			return 0, c.op("read", p.err)
		}
		wait := time.Duration(-1)
		if len(p.segs) > 0 {
			s := &p.segs[0]
			now := c.clock.Now()
			if !s.at.After(now) {
				n := copy(b, s.data)
				s.data = s.data[n:]
				if len(s.data) == 0 {
					p.segs = p.segs[1:]
				}
				p.mu.Unlock()
				return n, nil
			}
			wait = s.at.Sub(now)
		} else if p.eof {
			p.mu.Unlock()
			return 0, io.EOF
		}
		notify := p.notify
		p.mu.Unlock()
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return 0, c.op("read", timeoutError{})
		}
		var due chan struct{}
		var dueTimer censor.Timer
		if wait >= 0 {
			due = make(chan struct{})
			dueTimer = c.clock.AfterFunc(wait, func() { close(due) })
		}
		var expired <-chan time.Time
		var dl *time.Timer
		if !deadline.IsZero() {
			dl = time.NewTimer(time.Until(deadline))
			expired = dl.C
		}
		select {
		case <-notify:
		case <-due:
		case <-expired:
		case <-moved:
		}
		if dueTimer != nil {
			dueTimer.Stop()
		}
		if dl != nil {
			dl.Stop()
		}
	}
}

// Write hands b to the censor as one segment and queues what it lets
// through. Writes never block; a segment the censor drops is reported as
// written, as a real network would.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	closed, wclosed, deadline := c.closed, c.writeClosed, c.writeDeadline
	c.mu.Unlock()
	switch {
	case closed:
		return 0, c.op("write", net.ErrClosed)
	case wclosed:
		return 0, c.op("write", syscall.EPIPE)
	case !deadline.IsZero() && !time.Now().Before(deadline):
		return 0, c.op("write", timeoutError{})
	}
	c.out.mu.Lock()
	err := c.out.err
	c.out.mu.Unlock()
	if err != nil {
		return 0, c.op("write", err)
	}
	if len(b) == 0 {
		return 0, nil
	}
	data := append([]byte(nil), b...)
	var d censor.Decision
	if c.flow != nil {
		d = c.flow.Data(c.dir, data)
	}
	switch d.Verdict {
	case censor.Reset:
		c.reset()
		return 0, c.op("write", syscall.ECONNRESET)
	case censor.Drop:
		return len(b), nil
	}
	if d.Stall {
		data = data[:d.Keep]
	}
	if len(data) > 0 {
		c.out.mu.Lock()
		c.out.segs = append(c.out.segs, segment{data: data, at: c.clock.Now().Add(d.Delay)})
		c.out.signal()
		c.out.mu.Unlock()
	}
	return len(b), nil
}

// reset tears both directions down as injected RSTs would.
func (c *Conn) reset() {
	for _, p := range []*pipe{c.in, c.out} {
		p.mu.Lock()
		p.segs, p.err = nil, syscall.ECONNRESET
		p.signal()
		p.mu.Unlock()
	}
}

// Close closes the conn: the peer reads EOF after the bytes already sent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.op("close", net.ErrClosed)
	}
	c.closed = true
	close(c.deadlineMoved)
	c.deadlineMoved = make(chan struct{})
	c.mu.Unlock()
	c.finish()
	if c.flow != nil {
		c.flow.Close()
	}
	return nil
}

// CloseWrite half-closes: the peer reads EOF and can still send.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	c.writeClosed = true
	c.mu.Unlock()
	c.finish()
	return nil
}

func (c *Conn) finish() {
	c.out.mu.Lock()
	c.out.eof = true
	c.out.signal()
	c.out.mu.Unlock()
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.setDeadlines(t, true, true)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.setDeadlines(t, true, false)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.setDeadlines(t, false, true)
	return nil
}

func (c *Conn) setDeadlines(t time.Time, read, write bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if read {
		c.readDeadline = t
	}
	if write {
		c.writeDeadline = t
	}
	close(c.deadlineMoved)
	c.deadlineMoved = make(chan struct{})
}
