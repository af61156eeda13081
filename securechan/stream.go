package securechan

import (
	"net"
	"sync"
)

// NetConn returns a byte-stream view of c as a net.Conn: each Write sends
// its bytes as one or more messages, and Read returns received message
// bytes in order, ignoring message boundaries. Close, deadlines and
// addresses are c's. Use it for code that wants a stream; use Send and Recv
// to keep message boundaries.
func (c *Conn) NetConn() net.Conn { return &streamConn{Conn: c} }

// streamConn adapts a Conn to net.Conn.
type streamConn struct {
	*Conn
	readMu  sync.Mutex // guards pending
	pending []byte     // rest of the last received message
}

var _ net.Conn = (*streamConn)(nil)

// Read returns bytes of the current message, receiving the next one when it
// is used up.
func (s *streamConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for len(s.pending) == 0 {
		msg, err := s.Recv()
		if err != nil {
			return 0, err
		}
		s.pending = msg
	}
	n := copy(b, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// Write sends b as messages of at most MaxMessageSize bytes.
func (s *streamConn) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), s.maxMessage)
		if err := s.Send(b[:n]); err != nil {
			return written, err
		}
		written += n
		b = b[n:]
	}
	return written, nil
}
