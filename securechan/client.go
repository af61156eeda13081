package securechan

import (
	"context"
	"crypto/ed25519"
	"crypto/mlkem"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/flynn/noise"
)

// ClientConfig configures the client side of a session.
type ClientConfig struct {
	// ServerPublic is the pinned server key from the server link.
	ServerPublic ServerPublic
	// DeviceKey is this device's Ed25519 key; the server learns its public
	// half, proved by a signature over the session transcript.
	DeviceKey ed25519.PrivateKey
	// Rand supplies the handshake's randomness (crypto/rand if nil). The
	// ML-KEM decapsulation key is derived from it too, so a deterministic
	// Rand makes the client's messages deterministic.
	Rand io.Reader
	// Now is the clock for the first message's timestamp (time.Now if nil).
	Now func() time.Time
	// Padding pads the first handshake payload and every record (none if nil).
	Padding Padding
	// HelloPadding, when set, pads the first handshake payload instead of
	// Padding: RandomPadding gives the first message a random length, so
	// its length prefix is not a fixed first two bytes of the connection
	// (docs/spec/transports.md, "direct"). The server ignores padding.
	HelloPadding Padding
	// MaxMessageSize caps messages both ways (DefaultMaxMessageSize if 0).
	MaxMessageSize int
	// AES says whether to offer AES-256-GCM records beside
	// ChaCha20-Poly1305; by default they are offered when HardwareAES is
	// true. The server chooses.
	AES AESPolicy
}

// Client runs the client side of the handshake over conn and returns the
// session. ctx bounds the handshake (its deadline becomes conn's deadline
// until the handshake ends). On error conn is left open; the caller closes
// it.
func Client(ctx context.Context, conn net.Conn, cfg ClientConfig) (*Conn, error) {
	if len(cfg.DeviceKey) != ed25519.PrivateKeySize {
		return nil, errors.New("securechan: client config: DeviceKey must be an Ed25519 private key")
	}
	if cfg.ServerPublic.isZero() {
		return nil, errors.New("securechan: client config: ServerPublic is missing; it comes from the server link")
	}
	maxMessage, err := checkMaxMessage(cfg.MaxMessageSize)
	if err != nil {
		return nil, err
	}
	rand := cfg.Rand
	if rand == nil {
		rand = defaultRand
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}

	done := watchHandshake(ctx, conn)
	c, err := clientHandshake(ctx, conn, cfg, rand, now(), maxMessage)
	if doneErr := done(); doneErr != nil && err == nil {
		err = fmt.Errorf("securechan: handshake: %w", doneErr)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func clientHandshake(ctx context.Context, conn net.Conn, cfg ClientConfig, rand io.Reader, now time.Time, maxMessage int) (*Conn, error) {
	var (
		hs     *noise.HandshakeState
		dk     *mlkem.DecapsulationKey768
		ek     []byte
		msg2   []byte
		cookie []byte
	)
	// Under load the server answers a first message with a retry cookie
	// instead of msg2; the client then starts over with the cookie in its
	// new first message (docs/spec/securechan.md, "Replay defence").
	offersAES := cfg.AES.enabled()
	for attempt := 0; ; attempt++ {
		var msg1 []byte
		var err error
		var static []byte
		hs, dk, ek, msg1, err = clientFirstMessage(cfg, rand, hello{offersAES: offersAES, stamp: now.UnixNano(), cookie: cookie}, &static)
		defer clear(static)
		if err != nil {
			return nil, err
		}
		if err := writeFrame(conn, msg1); err != nil {
			return nil, handshakeErr(ctx, "sending first message", err)
		}
		msg2, err = readFrame(conn)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the server closed the connection without answering; check the server key in the link and the device clock: %w", err)
			}
			return nil, handshakeErr(ctx, "reading server reply", err)
		}
		if len(msg2) != retryLen {
			break
		}
		if attempt >= maxRetries {
			return nil, ErrBusy
		}
		cookie = msg2
	}
	payload2, i2r, r2i, err := hs.ReadMessage(nil, msg2)
	if err != nil || i2r == nil {
		return nil, fmt.Errorf("%w (the server does not hold the pinned key: wrong link, or a man in the middle)", ErrNotAuthentic)
	}
	suite, ct, err := parsePayload2(payload2, offersAES)
	if err != nil {
		return nil, err
	}
	pqShared, err := dk.Decapsulate(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: bad ML-KEM ciphertext", ErrMalformed)
	}
	keys, err := deriveSessionKeys(hs.ChannelBinding(), i2r, r2i, pqShared, ek, ct, suite)
	clear(pqShared)
	if err != nil {
		return nil, err
	}

	c := newConn(conn, suite, keys.c2s, keys.s2c, maxMessage, cfg.Padding)
	c.sessionID = keys.sessionID
	sig := ed25519.Sign(cfg.DeviceKey, deviceAuthMessage(keys.sessionID))
	auth := append(cfg.DeviceKey.Public().(ed25519.PublicKey)[:ed25519.PublicKeySize:ed25519.PublicKeySize], sig...)
	c.sendMu.Lock()
	err = c.writeRecordLocked(kindAuth, auth)
	c.sendMu.Unlock()
	if err != nil {
		return nil, handshakeErr(ctx, "sending device authentication", err)
	}
	return c, nil
}

// clientFirstMessage starts a handshake: a fresh initiator static key,
// Noise state and ML-KEM key pair, and the first message carrying h (its
// offer, timestamp and cookie; the encapsulation key is filled in here).
func clientFirstMessage(cfg ClientConfig, rand io.Reader, h hello, staticPriv *[]byte) (*noise.HandshakeState, *mlkem.DecapsulationKey768, []byte, []byte, error) {
	// The initiator's static key is fresh for every session: the device is
	// authenticated by its Ed25519 signature, and a long-term X25519 key
	// would let whoever later learns the server key link a device's
	// sessions (docs/spec/securechan.md, "Why IK").
	static, err := cipherSuite.GenerateKeypair(rand)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("securechan: handshake: generating keys: %w", err)
	}
	// The Noise state keeps static.Private for msg2's se; the caller
	// clears it when the handshake ends.
	*staticPriv = static.Private
	hs, err := noise.NewHandshakeState(noiseConfig(true, static, cfg.ServerPublic[:], rand))
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("securechan: handshake: %w", err)
	}
	var seed [mlkem.SeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("securechan: handshake: reading random bytes: %w", err)
	}
	dk, err := mlkem.NewDecapsulationKey768(seed[:])
	clear(seed[:])
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("securechan: handshake: generating ML-KEM key: %w", err)
	}
	ek := dk.EncapsulationKey().Bytes()
	pad := cfg.Padding
	if cfg.HelloPadding != nil {
		pad = cfg.HelloPadding
	}
	h.ek = ek
	msg1, _, _, err := hs.WriteMessage(nil, appendPayload1(nil, h, pad))
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("securechan: handshake: building first message: %w", err)
	}
	return hs, dk, ek, msg1, nil
}

func checkMaxMessage(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultMaxMessageSize, nil
	case n < 0 || n > MaxMessageSizeLimit:
		return 0, fmt.Errorf("securechan: config: MaxMessageSize must be between 1 and %d", MaxMessageSizeLimit)
	}
	return n, nil
}
