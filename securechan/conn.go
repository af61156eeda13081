package securechan

import (
	"crypto/cipher"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Message size limits.
const (
	// DefaultMaxMessageSize is the largest message Send and Recv accept
	// unless a config says otherwise.
	DefaultMaxMessageSize = 1 << 20
	// MaxMessageSizeLimit caps any configured MaxMessageSize.
	MaxMessageSizeLimit = 64 << 20
	// closeTimeout bounds how long Close waits to send its close record.
	closeTimeout = 2 * time.Second
)

// Conn is an established secure session. Send and Recv may each be called
// from several goroutines at once: a message is never interleaved with
// another, and each Recv returns one whole message. Close may be called at
// any time, from any goroutine.
type Conn struct {
	conn       net.Conn
	peerDevice ed25519.PublicKey // set on the server side
	sessionID  [32]byte
	suite      Suite
	maxMessage int
	padding    Padding
	closed     atomic.Bool
	closeOnce  sync.Once
	closeErr   error

	sendMu   sync.Mutex // guards the send fields below
	sendCond *sync.Cond // on sendMu: signalled when a write ends; made when first waited on (idle sessions stay small)
	sendAEAD cipher.AEAD
	sendSeq  uint64
	sendMax  uint64 // the suite's record limit per key
	sendErr  error  // sticky: a failed write leaves the record stream unusable

	sendNonce [chacha20poly1305.NonceSize]byte // scratch, so sealing allocates nothing

	// Write combining: a sender seals its records into out and, unless
	// another sender's write is under way, writes out itself; senders that
	// arrive during a write wait, and the next of them writes everything
	// sealed meanwhile in one write. queued and written count the sends
	// sealed and the sends handed to the connection in full.
	out     []*[]byte // pooled buffers of sealed records, each filled before the next
	writing bool
	queued  uint64
	written uint64

	recvMu     sync.Mutex // guards the fields below
	recvAEAD   cipher.AEAD
	recvSeq    uint64
	recvErr    error // sticky
	recvNonce  [chacha20poly1305.NonceSize]byte
	rbuf       *[]byte // pooled buffer while received bytes are not consumed yet
	rstart     int     // first unconsumed byte of *rbuf
	rend       int     // end of the bytes read into *rbuf
	peek       [1]byte // the byte WaitReadable read, while hasPeek
	hasPeek    bool
	msgBuf     []byte // fragments of the message being reassembled
	msgStarted bool
}

func newConn(conn net.Conn, suite Suite, send, recv cipher.AEAD, maxMessage int, padding Padding) *Conn {
	return &Conn{conn: conn, suite: suite, sendAEAD: send, sendMax: suite.maxRecords(), recvAEAD: recv, maxMessage: maxMessage, padding: padding}
}

// Suite returns the AEAD that protects this session's records, the same on
// both ends.
func (c *Conn) Suite() Suite { return c.suite }

// PeerDevice returns, on the server side, the Ed25519 device public key the
// client proved during the handshake. It returns nil on the client side.
func (c *Conn) PeerDevice() ed25519.PublicKey {
	if c.peerDevice == nil {
		return nil
	}
	return append(ed25519.PublicKey(nil), c.peerDevice...)
}

// SessionID returns a value unique to this session and equal on both ends:
// the hash of the handshake transcript that the device signed. It is not a
// secret (it is computed from public handshake data) and suits logs.
func (c *Conn) SessionID() [32]byte { return c.sessionID }

// MaxMessageSize returns the largest message Send accepts.
func (c *Conn) MaxMessageSize() int { return c.maxMessage }

// Send sends msg as one message. Messages larger than MaxMessageSize are
// refused with ErrMessageTooLarge and the session stays usable. Any write
// error (including a write deadline) is fatal for the session. Concurrent
// Sends are combined: those that arrive while another is writing go out
// together in the next write, and each returns once its own message is
// written.
func (c *Conn) Send(msg []byte) error {
	if len(msg) > c.maxMessage {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, len(msg), c.maxMessage)
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.sealMessageLocked(msg); err != nil {
		return err
	}
	return c.flushLocked()
}

// SendBatch sends each of msgs as one message, in order, in as few writes
// as it can (one when nothing else is being sent). It checks every size
// before it sends anything.
func (c *Conn) SendBatch(msgs [][]byte) error {
	for _, m := range msgs {
		if len(m) > c.maxMessage {
			return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, len(m), c.maxMessage)
		}
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	for _, m := range msgs {
		if err := c.sealMessageLocked(m); err != nil {
			return err
		}
	}
	return c.flushLocked()
}

// sealMessageLocked seals msg as records (fragments of at most
// maxRecordData) into out.
func (c *Conn) sealMessageLocked(msg []byte) error {
	for first := true; first || len(msg) > 0; first = false {
		n := min(len(msg), maxRecordData)
		kind := kindDataLast
		if n < len(msg) {
			kind = kindData
		}
		if err := c.sealRecordLocked(kind, msg[:n], -1); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return nil
}

// SendPadding sends a record that carries n bytes of padding and no data;
// the peer discards it. Use it for cover traffic.
func (c *Conn) SendPadding(n int) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.sealRecordLocked(kindPad, nil, min(max(n, 0), maxRecordData)); err != nil {
		return err
	}
	return c.flushLocked()
}

// writeRecordLocked seals and writes one record with the configured
// padding.
func (c *Conn) writeRecordLocked(kind byte, data []byte) error {
	if err := c.sealRecordLocked(kind, data, -1); err != nil {
		return err
	}
	return c.flushLocked()
}

// sealRecordLocked seals one record into out. pad < 0 means the configured
// padding policy.
func (c *Conn) sealRecordLocked(kind byte, data []byte, pad int) error {
	if c.sendErr != nil {
		return c.sendErr
	}
	if c.closed.Load() && kind != kindClose {
		return ErrClosed
	}
	if c.sendSeq >= c.sendMax {
		c.sendErr = fmt.Errorf("securechan: sending: the session's %v key has sealed its %d records; reconnect", c.suite, c.sendMax)
		return c.sendErr
	}
	room := maxRecordData - len(data)
	if pad < 0 {
		pad = 0
		if c.padding != nil {
			pad = c.padding(innerHeaderLen + len(data))
		}
	}
	pad = min(max(pad, 0), room)
	size := recordHeaderLen + innerHeaderLen + len(data) + pad + tagLen
	if n := len(c.out); n == 0 || cap(*c.out[n-1])-len(*c.out[n-1]) < size {
		c.out = append(c.out, poolFor(size).Get().(*[]byte))
	}
	last := c.out[len(c.out)-1]
	*last = sealRecordNonce(*last, c.sendAEAD, &c.sendNonce, c.sendSeq, kind, data, pad)
	c.sendSeq++
	return nil
}

// flushLocked returns once everything sealed so far by this caller is
// written: it writes out itself when no other write is under way, else it
// waits for that write, and for the next one if its records came too late
// for it. The lock is released during each write.
func (c *Conn) flushLocked() error {
	mine := c.queued + 1
	c.queued = mine
	for {
		if c.written >= mine {
			return nil
		}
		if c.sendErr != nil {
			return c.sendErr
		}
		if c.writing {
			if c.sendCond == nil {
				c.sendCond = sync.NewCond(&c.sendMu)
			}
			c.sendCond.Wait()
			continue
		}
		bufs, upTo := c.out, c.queued
		c.out, c.writing = nil, true
		c.sendMu.Unlock()
		err := writeBuffers(c.conn, bufs)
		c.sendMu.Lock()
		c.writing = false
		for _, b := range bufs {
			releaseSendBuffer(b)
		}
		if err != nil {
			if c.closed.Load() {
				err = ErrClosed
			}
			c.sendErr = fmt.Errorf("securechan: sending: %w", err)
		} else {
			c.written = upTo
		}
		if c.sendCond != nil {
			c.sendCond.Broadcast()
		}
	}
}

// writeBuffers writes bufs in order: one Write when there is one buffer,
// else net.Buffers (one writev on a TCP connection).
func writeBuffers(conn net.Conn, bufs []*[]byte) error {
	if len(bufs) == 1 {
		_, err := conn.Write(*bufs[0])
		return err
	}
	nb := make(net.Buffers, len(bufs))
	for i, b := range bufs {
		nb[i] = *b
	}
	_, err := nb.WriteTo(conn)
	return err
}

// releaseSendBuffer returns a send buffer to its pool.
func releaseSendBuffer(b *[]byte) {
	*b = (*b)[:0]
	poolOf(b).Put(b)
}

// Recv returns the next message. It returns io.EOF after the peer closed the
// session in order. A read deadline that expires leaves the session usable
// (call Recv again); any other error is fatal and closes the session.
func (c *Conn) Recv() ([]byte, error) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if c.recvErr != nil {
		return nil, c.recvErr
	}
	for {
		kind, data, err := c.readRecordLocked()
		if err != nil {
			if isTimeout(err) && !c.closed.Load() {
				c.releaseRecordLocked()
				return nil, fmt.Errorf("securechan: receiving: %w", err)
			}
			return nil, c.failRecvLocked(err)
		}
		switch kind {
		case kindData, kindDataLast:
			if len(c.msgBuf)+len(data) > c.maxMessage {
				return nil, c.failRecvLocked(fmt.Errorf("%w: the peer sent more than %d bytes", ErrMessageTooLarge, c.maxMessage))
			}
			if kind == kindDataLast && !c.msgStarted {
				// The common case: a message in one record.
				msg := append(make([]byte, 0, len(data)), data...)
				c.releaseRecordLocked()
				return msg, nil
			}
			if !c.msgStarted {
				c.msgBuf = largeMessageBuffer()
			}
			c.msgBuf = append(c.msgBuf, data...)
			c.msgStarted = true
			c.releaseRecordLocked()
			if kind == kindDataLast {
				msg := c.msgBuf
				c.msgBuf, c.msgStarted = nil, false
				return msg, nil
			}
		case kindPad:
			c.releaseRecordLocked()
		case kindClose:
			c.releaseRecordLocked()
			c.recvErr = io.EOF
			return nil, io.EOF
		default:
			return nil, c.failRecvLocked(fmt.Errorf("%w: unexpected record kind %d", ErrMalformed, kind))
		}
	}
}

// WaitReadable blocks until the peer has sent at least one byte of the next
// record (or the read deadline passes, or the connection fails) without
// holding a record buffer while it waits, so that an idle session costs
// little memory. A later Recv returns the record. It returns at once when
// received bytes are already buffered. A read deadline that expires leaves
// the session usable. Recv and WaitReadable exclude each other.
func (c *Conn) WaitReadable() error {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if c.recvErr != nil {
		return c.recvErr
	}
	if c.hasPeek || c.rend > c.rstart || c.msgStarted {
		return nil
	}
	for {
		n, err := c.conn.Read(c.peek[:])
		if n == 1 {
			c.hasPeek = true
			return nil
		}
		if err != nil {
			if c.closed.Load() {
				return ErrClosed
			}
			return err
		}
	}
}

// readRecordLocked reads and opens one record. It reads as many bytes as
// the connection has ready (one read usually brings a whole record, often
// more), keeping what follows the record for the next call, and can resume
// after a read timeout: the bytes read so far stay in c.rbuf.
func (c *Conn) readRecordLocked() (byte, []byte, error) {
	for {
		avail := c.rend - c.rstart
		need := recordHeaderLen
		if avail >= recordHeaderLen {
			buf := *c.rbuf
			n, err := recordLength(buf[c.rstart : c.rstart+recordHeaderLen])
			if err != nil {
				return 0, nil, err
			}
			need = recordHeaderLen + n
			if avail >= need {
				rec := buf[c.rstart : c.rstart+need]
				c.rstart += need
				binary.BigEndian.PutUint64(c.recvNonce[4:], c.recvSeq)
				kind, data, err := openRecordNonce(c.recvAEAD, c.recvNonce[:], rec[:recordHeaderLen], rec[recordHeaderLen:])
				if err != nil {
					return 0, nil, err
				}
				c.recvSeq++
				return kind, data, nil
			}
		}
		c.makeRoomLocked(need)
		buf := (*c.rbuf)[:cap(*c.rbuf)]
		n, err := c.conn.Read(buf[c.rend:])
		c.rend += n
		if err != nil {
			if n > 0 && c.rend-c.rstart >= need {
				continue // a whole record arrived with the error; the next read reports it again
			}
			if err == io.EOF {
				if c.rend == c.rstart {
					err = fmt.Errorf("%w: the peer closed the connection without a close record", io.ErrUnexpectedEOF)
				} else {
					err = fmt.Errorf("%w: truncated record", io.ErrUnexpectedEOF)
				}
			}
			return 0, nil, err
		}
	}
}

// makeRoomLocked makes sure c.rbuf exists and has room after its unconsumed
// bytes for a record of need bytes (header included) and at least one more
// byte to read: small records use a small pooled buffer, larger ones a
// record-sized one.
func (c *Conn) makeRoomLocked(need int) {
	if c.rbuf == nil {
		c.rbuf = poolFor(need).Get().(*[]byte)
		c.rstart, c.rend = 0, 0
		if c.hasPeek {
			(*c.rbuf)[:1][0] = c.peek[0]
			c.rend, c.hasPeek = 1, false
		}
	}
	avail := c.rend - c.rstart
	room := max(need, avail+1)
	if room > cap(*c.rbuf) {
		bp := poolFor(room).Get().(*[]byte)
		copy((*bp)[:cap(*bp)], (*c.rbuf)[c.rstart:c.rend])
		poolOf(c.rbuf).Put(c.rbuf)
		c.rbuf, c.rstart, c.rend = bp, 0, avail
		return
	}
	if c.rstart+room > cap(*c.rbuf) {
		buf := (*c.rbuf)[:cap(*c.rbuf)]
		copy(buf, buf[c.rstart:c.rend])
		c.rstart, c.rend = 0, avail
	}
}

// releaseRecordLocked returns the receive buffer to its pool once every
// byte in it has been consumed (the data of the last record included).
func (c *Conn) releaseRecordLocked() {
	if c.rbuf != nil && c.rstart == c.rend {
		poolOf(c.rbuf).Put(c.rbuf)
		c.rbuf = nil
		c.rstart, c.rend = 0, 0
	}
}

// failRecvLocked makes err sticky and closes the session.
func (c *Conn) failRecvLocked(err error) error {
	if c.closed.Load() {
		err = ErrClosed
	} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrRecordAuth) && !errors.Is(err, ErrMessageTooLarge) {
		err = fmt.Errorf("securechan: receiving: %w", err)
	}
	c.recvErr = err
	c.msgBuf = nil
	c.releaseRecordLocked()
	c.conn.Close()
	c.closed.Store(true)
	return err
}

// Close sends a close record if it can do so without waiting for another
// Send, then closes the underlying connection. Later calls return the first
// result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if c.sendMu.TryLock() {
			// Not while another Send is writing (with the lock released):
			// the close record must follow the records before it.
			if c.sendErr == nil && !c.closed.Load() && !c.writing {
				c.conn.SetWriteDeadline(time.Now().Add(closeTimeout))
				c.writeRecordLocked(kindClose, nil)
			}
			c.sendErr = ErrClosed
			c.sendMu.Unlock()
		}
		c.closed.Store(true)
		c.closeErr = c.conn.Close()
	})
	return c.closeErr
}

// LocalAddr returns the underlying connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the underlying connection's remote address (for a
// relayed session, the relay's).
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets the underlying connection's deadlines. An expired write
// deadline is fatal for the session; an expired read deadline is not.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the underlying connection's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the underlying connection's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
