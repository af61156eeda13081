package client

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// Authentication of members and devices (docs/spec/authentication.md).
//
// Every MLS leaf carries a device credential: the account key, the device
// key, the device's creation time and the account key's signature over
// them (the device certificate). The client hands mls a validator
// (Config.ValidateCredential, set in Open) that mls calls for every leaf
// wherever one can appear; the validator checks the certificate, that the
// leaf's signature key is the certified device key, and that the device is
// on its account's current signed device list (devicelist.go).

// deviceCertV2Context starts the message an account key signs to certify a
// device inside an MLS credential (docs/spec/authentication.md §2).
const deviceCertV2Context = "samizdat device cert v2\x00"

// credentialSize is the size of a device credential's identity:
// account(32) || device(32) || created(8, big endian Unix seconds) || cert(64).
const credentialSize = 32 + 32 + 8 + 64

// Errors of member authentication. An *AuthError wraps one of them.
var (
	// ErrForgedDevice: a leaf's credential is not a device certificate of
	// the account it names (or its signature key is another key).
	ErrForgedDevice = errors.New("device not certified by the account it names")
	// ErrDeviceNotListed: the device is not on its account's current
	// signed device list.
	ErrDeviceNotListed = errors.New("device not on its account's signed device list")
	// ErrDeviceListRollback: the server handed an older device list than
	// one this client already saw.
	ErrDeviceListRollback = errors.New("the server sent an older device list than one already seen (rollback)")
	// ErrDeviceListInvalid: a device list's signature or encoding is bad.
	ErrDeviceListInvalid = errors.New("device list not signed by its account")
	// errDeviceListUnavailable: the list could not be fetched (offline);
	// the message is retried on the next connection, not refused.
	errDeviceListUnavailable = errors.New("the account's device list could not be fetched")
)

// AuthError is why a leaf was refused: which account and device it
// claimed, and which check failed (one of the Err... sentinels above).
type AuthError struct {
	Account AccountKey
	Device  DeviceKey
	Err     error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("client: refusing device %s of account %s: %v", Fingerprint(e.Device), hex.EncodeToString(e.Account[:8]), e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// deviceCertMessage is what the account key signs for a device credential:
// the device key, its id and its creation time.
func deviceCertMessage(device DeviceKey, created uint64) []byte {
	id := DeviceIDOf(device)
	m := make([]byte, 0, len(deviceCertV2Context)+32+32+8)
	m = append(m, deviceCertV2Context...)
	m = append(m, device[:]...)
	m = append(m, id[:]...)
	return binary.BigEndian.AppendUint64(m, created)
}

// deviceCredential is the MLS basic credential identity of a device,
// certified by its account (the private key signs here).
func deviceCredential(account ed25519.PrivateKey, device DeviceKey, created uint64) []byte {
	var a AccountKey
	copy(a[:], account.Public().(ed25519.PublicKey))
	out := make([]byte, 0, credentialSize)
	out = append(out, a[:]...)
	out = append(out, device[:]...)
	out = binary.BigEndian.AppendUint64(out, created)
	return append(out, ed25519.Sign(account, deviceCertMessage(device, created))...)
}

// verifyCredential checks a leaf's credential identity and signature key:
// the identity is a device credential, its certificate verifies under the
// account key it names, and the leaf signs with the certified device key.
func verifyCredential(identity, signatureKey []byte) (AccountKey, DeviceKey, error) {
	a, d, err := parseCredential(identity)
	if err != nil {
		return a, d, &AuthError{Account: a, Device: d, Err: fmt.Errorf("%w: %w", ErrForgedDevice, err)}
	}
	if len(signatureKey) != len(d) || subtle.ConstantTimeCompare(signatureKey, d[:]) != 1 {
		return a, d, &AuthError{Account: a, Device: d, Err: fmt.Errorf("%w: the leaf signs with another key than the certified one", ErrForgedDevice)}
	}
	created := binary.BigEndian.Uint64(identity[64:72])
	if !ed25519.Verify(a[:], deviceCertMessage(d, created), identity[72:]) {
		return a, d, &AuthError{Account: a, Device: d, Err: ErrForgedDevice}
	}
	return a, d, nil
}

// parseCredential splits a device credential into its two keys (it does
// not verify the certificate: verifyCredential does).
func parseCredential(id []byte) (AccountKey, DeviceKey, error) {
	var a AccountKey
	var d DeviceKey
	if len(id) >= 64 {
		copy(a[:], id[:32])
		copy(d[:], id[32:64])
	}
	if len(id) != credentialSize {
		return a, d, errors.New("client: MLS credential is not a samizdat device credential")
	}
	return a, d, nil
}

// Fingerprint is the short form of a device key that users compare and
// that membership events name: 16 hex digits of its device id in groups
// of four.
func Fingerprint(d DeviceKey) string {
	id := DeviceIDOf(d)
	h := hex.EncodeToString(id[:8])
	return h[0:4] + "-" + h[4:8] + "-" + h[8:12] + "-" + h[12:16]
}

// refusedLocked stores what the user sees about a delivered message that
// was refused: a loud warning naming the impersonated account when a leaf
// failed authentication, else the plain "skipped" error.
func (c *Client) refusedLocked(t *tx, d *wire.Deliver, err error) Message {
	var ae *AuthError
	if !errors.As(err, &ae) {
		return c.skippedLocked(t, d.Group, nil, d.Kind.String(), err)
	}
	name := c.nameOfLocked(t, ae.Account)
	what := "a change to a chat"
	if d.Kind == wire.KindWelcome {
		what = "an invitation to a chat"
	}
	var why string
	switch {
	case errors.Is(err, ErrForgedDevice):
		why = fmt.Sprintf("it claims a device %s of %s that %s's account never certified: someone is impersonating %s", Fingerprint(ae.Device), name, name, name)
	case errors.Is(err, ErrDeviceListRollback):
		why = fmt.Sprintf("the server sent an older device list of %s than one already seen (a rollback)", name)
	case errors.Is(err, ErrDeviceNotListed):
		why = fmt.Sprintf("it adds device %s, which is not on %s's signed device list (removed, or never theirs)", Fingerprint(ae.Device), name)
	default:
		why = fmt.Sprintf("device %s of %s could not be authenticated (%v)", Fingerprint(ae.Device), name, ae.Err)
	}
	chat := c.chatNameLocked(t, d.Group)
	if chat == "" {
		chat = name
	}
	m := Message{Chat: chat, Kind: MessageError, Time: time.Now().UTC(),
		Text: fmt.Sprintf("WARNING: refused %s: %s. Nothing from it was applied.", what, why)}
	t.addMessage(d.Group[:], &m)
	return m
}

// DeviceCredential returns the MLS credential identity of a device,
// certified by its account key (for tools and tests that speak MLS
// directly; a Client makes its own).
func DeviceCredential(account ed25519.PrivateKey, device DeviceKey, created uint64) []byte {
	return deviceCredential(account, device, created)
}

// forgedKeysLocked turns a KeyPackage that failed authentication into a
// warning the user sees (in the chat, or under the contact when the chat
// is new) and the error the caller returns; other errors pass through.
func (c *Client) forgedKeysLocked(ctx context.Context, ch *chat, isNew bool, err error) error {
	var ae *AuthError
	if !errors.As(err, &ae) {
		return err
	}
	t, terr := c.store.begin(ctx)
	if terr != nil {
		return err
	}
	name := c.nameOfLocked(t, ae.Account)
	text := fmt.Sprintf("WARNING: the server handed keys for %s that %s's account did not certify (%v); nobody was added and nothing was sent. Someone may be trying to read your messages to %s: compare safety numbers with them", name, name, ae.Err, name)
	key := ae.Account[:]
	chatName := name
	if !isNew {
		key, chatName = ch.hash[:], c.chatDisplayLocked(t, ch)
	}
	m := Message{Chat: chatName, Kind: MessageError, Time: time.Now().UTC(), Text: text}
	t.addMessage(key, &m)
	t.commit()
	return fmt.Errorf("client: %s: %w", text, err)
}
