package tlsws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// wsConn is a net.Conn over a WebSocket that carries our bytes in binary
// messages. It exists instead of websocket.NetConn because net.Conn's
// deadline contract needs a read timeout that leaves the conn usable, and
// coder/websocket closes the whole connection when a read's context ends. A
// pump goroutine owns the WebSocket's read side and hands chunks to Read,
// which can then time out without touching the WebSocket.
type wsConn struct {
	ws            *websocket.Conn
	local, remote net.Addr

	ctx    context.Context // lives until the WebSocket is closed; cancelling it tears the WebSocket down
	cancel context.CancelFunc

	chunks  chan []byte // from the pump; closed when the pump ends
	pumpErr error       // why the pump ended; written before chunks is closed

	readMu sync.Mutex // guards pending; serialises Read
	// pending is the unread rest of the last chunk.
	pending []byte
	readDL  deadline

	writeMu sync.Mutex // serialises Write and tells Close whether a Write is blocked
	writeDL deadline

	closeOnce sync.Once
	closed    chan struct{} // closed by Close
}

// chunkSize bounds one pump read; chunksQueued bounds how far the pump runs
// ahead of Read (so a slow reader pushes back on the sender through TCP).
const (
	chunkSize    = 32 << 10
	chunksQueued = 8
)

func newWSConn(ws *websocket.Conn, local, remote net.Addr) *wsConn {
	ws.SetReadLimit(-1) // we stream messages of any size; the peer's write size is not our concern
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{
		ws: ws, local: local, remote: remote,
		ctx: ctx, cancel: cancel,
		chunks: make(chan []byte, chunksQueued),
		closed: make(chan struct{}),
	}
	go c.pump()
	return c
}

// pump reads binary messages until the WebSocket ends, and queues their bytes.
// After Close it keeps reading (and drops the bytes) so that the close
// handshake's answer is read and the WebSocket can finish closing.
func (c *wsConn) pump() {
	defer close(c.chunks)
	buf := make([]byte, chunkSize)
	for {
		typ, r, err := c.ws.Reader(c.ctx)
		if err != nil {
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusGoingAway:
				c.pumpErr = io.EOF
			default:
				c.pumpErr = fmt.Errorf("tlsws: reading: %w", err)
			}
			return
		}
		if typ != websocket.MessageBinary {
			c.pumpErr = errors.New("tlsws: reading: peer sent a text message")
			c.ws.Close(websocket.StatusUnsupportedData, "")
			return
		}
		for {
			n, err := r.Read(buf)
			if n > 0 {
				// A copy sized to the data: small messages stay cheap.
				select {
				case c.chunks <- append([]byte(nil), buf[:n]...):
				case <-c.closed:
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				c.pumpErr = fmt.Errorf("tlsws: reading: %w", err)
				return
			}
		}
	}
}

// Read reads bytes the peer wrote; after the peer's Close it returns io.EOF.
func (c *wsConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.isClosed() {
		return 0, errClosed("reading")
	}
	if c.readDL.expired() {
		return 0, timeoutError{"reading"}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.pending) == 0 {
		select {
		case b, ok := <-c.chunks:
			if !ok {
				return 0, c.pumpErr
			}
			c.pending = b
		case <-c.readDL.wait():
			return 0, timeoutError{"reading"}
		case <-c.closed:
			return 0, errClosed("reading")
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Write sends p as one binary message. A write deadline that expires while
// the message is being written tears the WebSocket down (half a frame cannot
// be taken back); one that expired before Write leaves the conn intact.
func (c *wsConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.isClosed() {
		return 0, errClosed("writing")
	}
	if c.writeDL.expired() {
		return 0, timeoutError{"writing"}
	}
	ctx := c.ctx
	if expiry := c.writeDL.wait(); expiry != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(c.ctx)
		defer cancel()
		go func() {
			select {
			case <-expiry:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if err := c.ws.Write(ctx, websocket.MessageBinary, p); err != nil {
		switch {
		case c.isClosed():
			return 0, errClosed("writing")
		case c.writeDL.expired():
			return 0, timeoutError{"writing"}
		}
		return 0, fmt.Errorf("tlsws: writing: %w", err)
	}
	return len(p), nil
}

// Close closes the conn at once for the caller; the WebSocket close
// handshake (which lets the peer read io.EOF) finishes in the background,
// bounded by coder/websocket's own 5 s timeouts. If a Write is blocked, the
// WebSocket is torn down instead, which unblocks it.
func (c *wsConn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closed)
	})
	if !first {
		return nil
	}
	if !c.writeMu.TryLock() {
		c.cancel()
		return nil
	}
	c.writeMu.Unlock()
	go func() {
		defer c.cancel()
		c.ws.Close(websocket.StatusNormalClosure, "")
	}()
	return nil
}

func (c *wsConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.readDL.set(t)
	c.writeDL.set(t)
	return nil
}

func (c *wsConn) SetReadDeadline(t time.Time) error  { c.readDL.set(t); return nil }
func (c *wsConn) SetWriteDeadline(t time.Time) error { c.writeDL.set(t); return nil }

func errClosed(op string) error { return fmt.Errorf("tlsws: %s: %w", op, net.ErrClosed) }

// timeoutError is what an expired deadline returns: a net.Error with
// Timeout() true that wraps os.ErrDeadlineExceeded.
type timeoutError struct{ op string }

func (e timeoutError) Error() string   { return "tlsws: " + e.op + ": i/o timeout" }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }
func (e timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }

// deadline is a settable deadline whose wait channel closes when it passes.
// The channel is replaced only when a passed deadline is moved, so a waiter
// that captured it sees a later move into the past.
type deadline struct {
	mu     sync.Mutex // guards the fields below
	timer  *time.Timer
	expiry chan struct{} // closed when the deadline passes; nil when no deadline was ever set
	isSet  bool
}

// set moves the deadline; the zero time removes it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		d.expiry = nil // the old one fired: the next wait gets a fresh channel
	}
	d.timer = nil
	if d.expiry != nil {
		select {
		case <-d.expiry:
			d.expiry = nil
		default:
		}
	}
	if t.IsZero() {
		d.isSet = false
		return
	}
	d.isSet = true
	if d.expiry == nil {
		d.expiry = make(chan struct{})
	}
	expiry := d.expiry
	if dur := time.Until(t); dur > 0 {
		d.timer = time.AfterFunc(dur, func() { close(expiry) })
	} else {
		close(expiry)
	}
}

// wait returns a channel closed when the deadline passes, or nil (blocks
// forever in a select) when there is none.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.isSet {
		return nil
	}
	return d.expiry
}

func (d *deadline) expired() bool {
	ch := d.wait()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
