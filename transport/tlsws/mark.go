package tlsws

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// The hello mark (docs/spec/transports.md, "tlsws: the hello mark"): the
// dialer writes into the ClientHello's legacy_session_id (32 bytes, random
// in every Chrome hello) an HMAC that a standalone relay checks before it
// answers TLS itself. Without a valid, fresh, unseen mark the relay splices
// the connection to the cover origin untouched.
//
//	key  = HKDF-SHA256(secret, salt "", info markLabel, 32 bytes)
//	mark = HMAC-SHA256(key, uint64be(epoch) || hello)
//
// where hello is the ClientHello handshake message (type, length, body)
// with the 32 session_id bytes set to zero, and epoch is the Unix time
// divided by markEpoch. The whole hello is covered, so a mark cannot be
// moved to another hello (another key share, another SNI); the client
// random makes each mark unique, and the relay remembers the marks it
// accepted until they expire, so a replayed hello is spliced like any
// other.

const (
	markLabel = "samizdat tlsws hello mark v1"
	markEpoch = 60 * time.Second // one epoch
	markSkew  = 1                // epochs accepted either side of the relay's: ±1-2 min of clock skew
	// sessionIDOffset is where legacy_session_id starts in the handshake
	// message: type (1), length (3), legacy_version (2), random (32),
	// session_id length (1).
	sessionIDOffset = 1 + 3 + 2 + 32 + 1
	markLen         = 32
)

var errNoMarkRoom = errors.New("tlsws: ClientHello has no 32-byte session_id to carry the mark")

// markKey derives the mark key from the path secret.
func markKey(secret []byte) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, markLabel, 32)
	if err != nil {
		panic("tlsws: HKDF: " + err.Error()) // only for lengths HKDF cannot produce
	}
	return k
}

// computeMark returns the mark of hello (a handshake message whose
// session_id is 32 bytes; its content there is ignored) for epoch.
func computeMark(key, hello []byte, epoch int64) ([]byte, error) {
	if len(hello) < sessionIDOffset+markLen || hello[sessionIDOffset-1] != markLen {
		return nil, errNoMarkRoom
	}
	m := hmac.New(sha256.New, key)
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(epoch))
	m.Write(e[:])
	m.Write(hello[:sessionIDOffset])
	m.Write(make([]byte, markLen))
	m.Write(hello[sessionIDOffset+markLen:])
	return m.Sum(nil), nil
}

func epochOf(t time.Time) int64 { return t.Unix() / int64(markEpoch/time.Second) }

// markHello writes the mark for now into hello's session_id, in place.
func markHello(key, hello []byte, now time.Time) error {
	mark, err := computeMark(key, hello, epochOf(now))
	if err != nil {
		return err
	}
	copy(hello[sessionIDOffset:], mark)
	return nil
}

// markChecker verifies marks and remembers the ones it accepted.
type markChecker struct {
	key []byte
	now func() time.Time

	mu   sync.Mutex
	seen map[[markLen]byte]time.Time // accepted mark -> when it stops being valid
}

// maxSeenMarks bounds the replay cache. When it is full of unexpired marks
// (a client opening over ~270 tunnels a second for minutes), new marks are
// refused: the connection goes to the cover site, the client retries.
const maxSeenMarks = 1 << 16

func newMarkChecker(secret []byte, now func() time.Time) *markChecker {
	if now == nil {
		now = time.Now
	}
	return &markChecker{key: markKey(secret), now: now, seen: make(map[[markLen]byte]time.Time)}
}

// check reports whether hello carries a valid mark not seen before, and
// if so remembers it.
func (c *markChecker) check(hello []byte) bool {
	if len(hello) < sessionIDOffset+markLen || hello[sessionIDOffset-1] != markLen {
		return false
	}
	got := hello[sessionIDOffset : sessionIDOffset+markLen]
	now := c.now()
	e := epochOf(now)
	ok := false
	for d := int64(-markSkew); d <= markSkew; d++ {
		want, err := computeMark(c.key, hello, e+d)
		if err == nil && hmac.Equal(got, want) {
			ok = true // no early exit: the time taken does not tell which epoch matched
		}
	}
	if !ok {
		return false
	}
	var id [markLen]byte
	copy(id[:], got)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, replay := c.seen[id]; replay {
		return false
	}
	if len(c.seen) >= maxSeenMarks {
		for k, exp := range c.seen {
			if now.After(exp) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= maxSeenMarks {
			return false
		}
	}
	c.seen[id] = now.Add(time.Duration(2*markSkew+2) * markEpoch)
	return true
}
