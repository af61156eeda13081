package wire

import "fmt"

// ErrorCode is the reason carried by an Error message. Codes are part of the
// protocol version; a decoder rejects a code it does not know.
type ErrorCode uint16

const (
	CodeBadRequest         ErrorCode = 1  // malformed or out-of-order request
	CodeUnauthorized       ErrorCode = 2  // device not registered, bad certificate or signature
	CodeStaleEpoch         ErrorCode = 3  // commit for an epoch that is not the group's current one
	CodeNotFound           ErrorCode = 4  // no such account, device, key package or group info
	CodeRateLimited        ErrorCode = 5  // slow down; see RetryAfter
	CodeTooLarge           ErrorCode = 6  // above the server's announced limits
	CodeInternal           ErrorCode = 7  // server fault; retry later
	CodeUnsupportedVersion ErrorCode = 8  // no protocol version in common
	CodeUnavailable        ErrorCode = 9  // server overloaded or shutting down; reconnect
	CodeConflict           ErrorCode = 10 // device already registered to another account, or a reused MsgID with other content
	CodeDeviceRevoked      ErrorCode = 11 // this device was removed from its account
	CodeStorageFull        ErrorCode = 12 // the server is out of space; nothing was stored, retry later
	CodeQuotaExceeded      ErrorCode = 13 // this account's or mailbox's storage quota is used up
)

type codeInfo struct {
	name   string
	text   string // what a user-facing client shows
	action string // what the client (or the user) does next
}

var codes = map[ErrorCode]codeInfo{
	CodeBadRequest: {"BadRequest",
		"The app sent the server something it could not understand.",
		"Update the app. If it keeps happening, report a bug; the app does not retry this request unchanged."},
	CodeUnauthorized: {"Unauthorized",
		"This device is not registered with the server, or its account signature is not valid.",
		"Register the device again (RegisterDevice) with a certificate signed by the account key, then retry."},
	CodeStaleEpoch: {"StaleEpoch",
		"Someone else changed the group at the same moment.",
		"Nothing for the user to do: the app fetches the pending messages, catches up to Error.CurrentEpoch, rebuilds its change on top and sends it again."},
	CodeNotFound: {"NotFound",
		"Not found: the contact has no registered device, no invitation keys left, or the group has no published state.",
		"Check the contact's link, or ask them to open their app once so it registers and uploads new keys."},
	CodeRateLimited: {"RateLimited",
		"Too many requests in a short time.",
		"Wait Error.RetryAfter seconds; the app retries by itself."},
	CodeTooLarge: {"TooLarge",
		"This is too large for the server.",
		"Send it in smaller parts; ServerHello lists the server's limits."},
	CodeInternal: {"Internal",
		"The server had a problem.",
		"The app retries later with the same MsgID (no duplicates). If it persists, tell the server's operator."},
	CodeUnsupportedVersion: {"UnsupportedVersion",
		"This app and the server speak different protocol versions.",
		"Update the app (or, for an operator, the server); the message lists the versions the server speaks."},
	CodeUnavailable: {"Unavailable",
		"The server is busy or restarting.",
		"The app reconnects by itself after Error.RetryAfter seconds, possibly through another route."},
	CodeConflict: {"Conflict",
		"This conflicts with what the server already has (a device registered to another account, or a message id reused for different content).",
		"Create a new device key, or send with a fresh MsgID; never reuse a MsgID for a different message."},
	CodeDeviceRevoked: {"DeviceRevoked",
		"This device was removed from your account.",
		"Link it again from a device that holds the account key; messages sent to it meanwhile are lost."},
	CodeStorageFull: {"StorageFull",
		"The server is out of space; nothing was stored.",
		"Nothing is lost: the app keeps the message queued and retries after Error.RetryAfter seconds. Tell the server's operator if it lasts."},
	CodeQuotaExceeded: {"QuotaExceeded",
		"This account or its contact's mailbox has used up its storage quota on the server.",
		"The message stays queued; it goes out once the recipients have fetched their messages. Send fewer or smaller messages."},
}

// Known reports whether c is a code of this protocol version.
func (c ErrorCode) Known() bool { _, ok := codes[c]; return ok }

// String returns the code's name, e.g. "StaleEpoch".
func (c ErrorCode) String() string {
	if i, ok := codes[c]; ok {
		return i.name
	}
	return fmt.Sprintf("ErrorCode(%d)", uint16(c))
}

// Text is the sentence a user-facing client shows for c.
func (c ErrorCode) Text() string {
	if i, ok := codes[c]; ok {
		return i.text
	}
	return "The server reported an error this app does not know."
}

// Action says what the client, or its user, does next.
func (c ErrorCode) Action() string {
	if i, ok := codes[c]; ok {
		return i.action
	}
	return "Update the app."
}

// Retryable reports whether the same request may succeed later unchanged
// (after RetryAfter, a reconnect, or — for StaleEpoch — a rebase, which
// changes the request).
func (c ErrorCode) Retryable() bool {
	switch c {
	case CodeRateLimited, CodeInternal, CodeUnavailable, CodeStorageFull, CodeQuotaExceeded:
		return true
	}
	return false
}
