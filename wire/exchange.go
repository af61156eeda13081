package wire

import (
	"fmt"
	"unicode/utf8"
)

// ResponseType returns the type that answers a request of type t (Error
// may always answer instead), or 0 if t is not a request.
func ResponseType(t Type) Type { return kinds[t].answer }

// Negotiate returns the highest version in both ranges, or false if they do
// not meet (answer Error{UnsupportedVersion}).
func Negotiate(clientMin, clientMax, serverMin, serverMax uint16) (uint16, bool) {
	v := min(clientMax, serverMax)
	if v < max(clientMin, serverMin) || v == 0 {
		return 0, false
	}
	return v, true
}

// Errorf builds an Error whose message is formatted and cut (at a UTF-8
// boundary) to MaxErrorMessage bytes, so that it always encodes. Never put a
// secret in it.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if !utf8.ValidString(msg) {
		msg = string([]rune(msg)) // replaces invalid bytes with U+FFFD
	}
	if len(msg) > MaxErrorMessage {
		cut := MaxErrorMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	return &Error{Code: code, Message: msg}
}

// StaleEpoch builds the Delivery Service's refusal of a commit.
func StaleEpoch(current uint64) *Error {
	return &Error{Code: CodeStaleEpoch, CurrentEpoch: current,
		Message: fmt.Sprintf("the group is at epoch %d; catch up and rebase the commit", current)}
}
