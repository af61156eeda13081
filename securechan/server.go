package securechan

import (
	"context"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/flynn/noise"
)

// Server defaults.
const (
	DefaultReplayWindow     = 2 * time.Minute
	DefaultReplayCacheSize  = 1 << 16
	DefaultHandshakeTimeout = 10 * time.Second
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Key is the server's static key; clients pin its public half.
	Key *ServerKey
	// Now is the clock used to check first-message timestamps (time.Now if nil).
	Now func() time.Time
	// ReplayWindow is how far a first message's timestamp may be from Now,
	// either way (DefaultReplayWindow if 0).
	ReplayWindow time.Duration
	// ReplayCacheSize bounds the remembered first messages
	// (DefaultReplayCacheSize if 0). Entries leave it only when their
	// timestamps leave the window; while it is full, Accept answers a first
	// message with a retry cookie instead of refusing it.
	ReplayCacheSize int
	// HandshakeTimeout bounds Accept when its ctx has no deadline
	// (DefaultHandshakeTimeout if 0).
	HandshakeTimeout time.Duration
	// Padding pads the second handshake payload and every record (none if nil).
	Padding Padding
	// MaxMessageSize caps messages both ways (DefaultMaxMessageSize if 0).
	MaxMessageSize int
	// AES says whether to choose AES-256-GCM records when a client offers
	// them; by default when HardwareAES is true. Otherwise, and for clients
	// that do not offer them, records are ChaCha20-Poly1305.
	AES AESPolicy
}

// Server accepts sessions for one server key. It is safe for concurrent use;
// all sessions share its replay cache.
type Server struct {
	key              *ServerKey
	now              func() time.Time
	window           time.Duration
	handshakeTimeout time.Duration
	padding          Padding
	maxMessage       int
	aes              bool // choose AES-256-GCM records when offered
	replay           *replayCache
	retries          atomic.Uint64
}

// NewServer returns a Server for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Key == nil {
		return nil, errors.New("securechan: server config: Key is missing")
	}
	maxMessage, err := checkMaxMessage(cfg.MaxMessageSize)
	if err != nil {
		return nil, err
	}
	s := &Server{
		key:              cfg.Key,
		now:              cfg.Now,
		window:           cfg.ReplayWindow,
		handshakeTimeout: cfg.HandshakeTimeout,
		padding:          cfg.Padding,
		maxMessage:       maxMessage,
		aes:              cfg.AES.enabled(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.window <= 0 {
		s.window = DefaultReplayWindow
	}
	if s.handshakeTimeout <= 0 {
		s.handshakeTimeout = DefaultHandshakeTimeout
	}
	size := cfg.ReplayCacheSize
	if size <= 0 {
		size = DefaultReplayCacheSize
	}
	s.replay = newReplayCache(size)
	return s, nil
}

// Public returns the server's public key.
func (s *Server) Public() ServerPublic { return s.key.pub }

// firstMessage is a first message that passed authentication.
type firstMessage struct {
	hs        *noise.HandshakeState
	ephemeral [32]byte
	hello
}

// FirstMessageLen returns the full length (header included) of the framed
// first message that starts with the given bytes, so a caller that peeks at
// a connection knows how much to read before CheckFirstMessage. It needs at
// least 2 bytes and reports ErrIncomplete otherwise.
func FirstMessageLen(prefix []byte) (int, error) {
	if len(prefix) < handshakeHeaderLen {
		return 0, ErrIncomplete
	}
	n := int(binary.BigEndian.Uint16(prefix))
	if n > maxHandshakeLen || handshakeHeaderLen+n < MinFirstMessageLen {
		return 0, fmt.Errorf("%w: first message length %d out of range", ErrNotAuthentic, n)
	}
	return handshakeHeaderLen + n, nil
}

// CheckFirstMessage tells, from the first bytes a client sent, whether they
// start an authentic first message for this server's key that is fresh and
// not seen before. b must hold at least FirstMessageLen bytes; bytes after
// the first message are ignored. It has no side effect: the replay cache is
// only read (see RememberFirstMessage). It costs two X25519 operations.
// Errors: ErrIncomplete, ErrNotAuthentic, ErrMalformed, ErrStale, ErrReplay.
func (s *Server) CheckFirstMessage(b []byte) error {
	_, err := s.checkFirstFrame(b, false)
	return err
}

// RememberFirstMessage is CheckFirstMessage that also records an accepted
// message in the replay cache, for a front that checks first messages for a
// server whose Accept does not share this Server's cache.
func (s *Server) RememberFirstMessage(b []byte) error {
	_, err := s.checkFirstFrame(b, true)
	return err
}

func (s *Server) checkFirstFrame(b []byte, record bool) (*firstMessage, error) {
	n, err := FirstMessageLen(b)
	if err != nil {
		return nil, err
	}
	if len(b) < n {
		return nil, ErrIncomplete
	}
	fm, err := s.openFirstMessage(b[handshakeHeaderLen:n], record, nil)
	if errors.Is(err, errCacheFull) {
		err = ErrBusy
	}
	return fm, err
}

// openFirstMessage authenticates and decrypts a first message (without its
// length prefix) and checks that it is fresh; if record is set, a fresh
// message is added to the replay cache (errCacheFull if there is no room).
// issued is the retry cookie this connection was given, if any: a message
// carrying a cookie is accepted only if it is that one, and is not
// recorded.
func (s *Server) openFirstMessage(msg []byte, record bool, issued []byte) (*firstMessage, error) {
	static := noise.DHKey{Private: s.key.priv[:], Public: s.key.pub[:]}
	hs, err := noise.NewHandshakeState(noiseConfig(false, static, nil, nil))
	if err != nil {
		return nil, fmt.Errorf("securechan: handshake: %w", err)
	}
	payload, _, _, err := hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, ErrNotAuthentic
	}
	h, err := parsePayload1(payload)
	if err != nil {
		return nil, err
	}
	stamp, cookie := h.stamp, h.cookie
	fm := &firstMessage{hs: hs, hello: h}
	copy(fm.ephemeral[:], hs.PeerEphemeral())
	now := s.now().UnixNano()
	if stamp < now-int64(s.window) || stamp > now+int64(s.window) {
		return nil, ErrStale
	}
	if cookie != nil {
		// A cookie is good only on the connection it was issued on, so a
		// message that carries one needs no cache entry: replayed on any
		// other connection, its cookie is not that connection's.
		if issued == nil || subtle.ConstantTimeCompare(cookie, issued) != 1 {
			return nil, ErrReplay
		}
		record = false
	}
	if err := s.replay.check(fm.ephemeral, now-int64(s.window), stamp, record); err != nil {
		return nil, err
	}
	return fm, nil
}

// Accept runs the server side of the handshake over conn and returns the
// session once the client device has proved its key. ctx bounds the
// handshake (HandshakeTimeout applies if ctx has no deadline). On error conn
// is left open and nothing has been sent for a first message that failed
// its checks, so the caller may hand conn to a cover service or close it.
func (s *Server) Accept(ctx context.Context, conn net.Conn) (*Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.handshakeTimeout)
		defer cancel()
	}
	done := watchHandshake(ctx, conn)
	c, err := s.serverHandshake(ctx, conn)
	if doneErr := done(); doneErr != nil && err == nil {
		err = fmt.Errorf("securechan: handshake: %w", doneErr)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Server) serverHandshake(ctx context.Context, conn net.Conn) (*Conn, error) {
	fm, err := s.acceptFirstMessage(ctx, conn)
	if err != nil {
		return nil, err
	}
	ek, err := mlkem.NewEncapsulationKey768(fm.ek)
	if err != nil {
		return nil, fmt.Errorf("%w: bad ML-KEM encapsulation key", ErrMalformed)
	}
	pqShared, ct := ek.Encapsulate()
	defer clear(pqShared)
	suite := chooseSuite(fm.offersAES, s.aes)
	msg2, i2r, r2i, err := fm.hs.WriteMessage(nil, appendPayload2(nil, suite, ct, s.padding))
	if err != nil || i2r == nil {
		return nil, fmt.Errorf("securechan: handshake: building reply: %v", err)
	}
	keys, err := deriveSessionKeys(fm.hs.ChannelBinding(), i2r, r2i, pqShared, fm.ek, ct, suite)
	if err != nil {
		return nil, err
	}
	if err := writeFrame(conn, msg2); err != nil {
		return nil, handshakeErr(ctx, "sending reply", err)
	}

	c := newConn(conn, suite, keys.s2c, keys.c2s, s.maxMessage, s.padding)
	c.sessionID = keys.sessionID
	c.recvMu.Lock()
	kind, data, err := c.readRecordLocked()
	var device ed25519.PublicKey
	if err == nil {
		device, err = verifyDeviceAuth(kind, data, keys.sessionID)
	}
	c.releaseRecordLocked()
	c.recvMu.Unlock()
	if err != nil {
		if errors.Is(err, ErrDeviceAuth) || errors.Is(err, ErrRecordAuth) || errors.Is(err, ErrMalformed) {
			return nil, err
		}
		return nil, handshakeErr(ctx, "reading device authentication", err)
	}
	c.peerDevice = device
	return c, nil
}

// acceptFirstMessage reads first messages until one is accepted. When the
// replay cache is full it sends a retry cookie instead of refusing, once
// (docs/spec/securechan.md, "Replay defence").
func (s *Server) acceptFirstMessage(ctx context.Context, conn net.Conn) (*firstMessage, error) {
	var issued []byte
	for attempt := 0; ; attempt++ {
		msg1, err := readFrame(conn)
		if err != nil {
			if issued != nil {
				return nil, handshakeErr(ctx, "reading first message after a retry", fmt.Errorf("%w: %w", ErrBusy, err))
			}
			return nil, handshakeErr(ctx, "reading first message", err)
		}
		fm, err := s.openFirstMessage(msg1, true, issued)
		if !errors.Is(err, errCacheFull) {
			return fm, err
		}
		if attempt >= maxRetries {
			return nil, ErrBusy
		}
		issued = make([]byte, cookieLen)
		if _, err := io.ReadFull(defaultRand, issued); err != nil {
			return nil, fmt.Errorf("securechan: handshake: making a retry cookie: %w", err)
		}
		if err := writeFrame(conn, issued); err != nil {
			return nil, handshakeErr(ctx, "sending a retry", err)
		}
		s.retries.Add(1)
	}
}

// Stats are counters of a Server's replay defence.
type Stats struct {
	Remembered int    // first messages in the replay cache now
	Retries    uint64 // retry cookies sent since the start
}

// Stats returns the replay defence's counters.
func (s *Server) Stats() Stats {
	return Stats{Remembered: s.replay.size(), Retries: s.retries.Load()}
}

// verifyDeviceAuth checks the client's first record: its device public key
// and its signature over the session id.
func verifyDeviceAuth(kind byte, data []byte, sessionID [32]byte) (ed25519.PublicKey, error) {
	if kind != kindAuth || len(data) != ed25519.PublicKeySize+ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: the first record is not a device authentication", ErrDeviceAuth)
	}
	device := ed25519.PublicKey(append([]byte(nil), data[:ed25519.PublicKeySize]...))
	if !ed25519.Verify(device, deviceAuthMessage(sessionID), data[ed25519.PublicKeySize:]) {
		return nil, fmt.Errorf("%w: bad signature", ErrDeviceAuth)
	}
	return device, nil
}
