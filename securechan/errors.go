package securechan

import (
	"errors"
	"fmt"
	"net"
)

// Errors that callers can test for with errors.Is. No error ever carries a
// secret.
var (
	// ErrNotAuthentic: a handshake message failed authentication. On the
	// server: the first message was not made for this server's key (a probe,
	// a tampered or foreign message). On the client: the server does not
	// hold the pinned key (wrong key in the link, or a man in the middle).
	ErrNotAuthentic = errors.New("securechan: handshake message not authentic for the pinned server key")

	// ErrReplay: the first message was seen before (a replay), or carries
	// a retry cookie that was not issued on its connection.
	ErrReplay = errors.New("securechan: first message replayed")

	// ErrBusy: the server is under load and its replay cache is full. On
	// the server: a first message could not be remembered and its sender
	// did not come back with the retry cookie (or RememberFirstMessage had
	// no room). On the client: the server asked for a retry twice.
	// Retrying a little later succeeds.
	ErrBusy = errors.New("securechan: the server is busy; try again in a moment")

	// ErrStale: the first message's timestamp is outside the server's
	// replay window; the device clock is probably wrong.
	ErrStale = errors.New("securechan: first message timestamp outside the accepted window; check the device clock")

	// ErrMalformed: a handshake message or record is malformed or does not
	// follow the protocol. The session is closed.
	ErrMalformed = errors.New("securechan: malformed message")

	// ErrRecordAuth: a record failed authentication (tampered, reordered,
	// or not from the peer). The session is closed.
	ErrRecordAuth = errors.New("securechan: record failed authentication")

	// ErrMessageTooLarge: a message is over the configured MaxMessageSize.
	// From Send it is a local error and the session stays usable; from Recv
	// the session is closed.
	ErrMessageTooLarge = errors.New("securechan: message too large")

	// ErrDeviceAuth: the client's device signature is missing or invalid.
	ErrDeviceAuth = errors.New("securechan: device authentication failed")

	// ErrIncomplete: CheckFirstMessage was given fewer bytes than the first
	// message's length prefix announces; read more and try again.
	ErrIncomplete = errors.New("securechan: first message incomplete")

	// ErrClosed: the session was closed locally. It matches net.ErrClosed.
	ErrClosed = fmt.Errorf("securechan: session closed: %w", net.ErrClosed)
)
