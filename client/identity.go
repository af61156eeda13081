package client

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/wire"
)

// deviceCertContext starts the message an account key signs to certify a
// device (docs/spec/wire.md, "Accounts and devices").
const deviceCertContext = "samizdat device v1"

// AccountKey is an account's Ed25519 public key: the account's only name.
type AccountKey = wire.AccountKey

// DeviceKey is a device's Ed25519 public key, also its MLS signature key.
type DeviceKey = wire.DeviceKey

// DeviceID is SHA-256 of a device key: a mailbox address.
type DeviceID = wire.DeviceID

// SignDevice returns the account's certificate of a device key.
func SignDevice(account ed25519.PrivateKey, device DeviceKey) wire.Signature {
	var sig wire.Signature
	copy(sig[:], ed25519.Sign(account, append([]byte(deviceCertContext), device[:]...)))
	return sig
}

// VerifyDevice checks a device certificate.
func VerifyDevice(account AccountKey, device DeviceKey, cert wire.Signature) bool {
	return ed25519.Verify(account[:], append([]byte(deviceCertContext), device[:]...), cert[:])
}

// DeviceIDOf returns SHA-256(device key).
func DeviceIDOf(device DeviceKey) DeviceID { return sha256.Sum256(device[:]) }

// selfKeys is what the store keeps about this account and device. The
// account private key may be absent on a linked device in the future; here
// every device holds it.
type selfKeys struct {
	AccountSeed []byte `json:"account_seed"`
	DeviceSeed  []byte `json:"device_seed"`
	Name        string `json:"name"`
	// DeviceCreated is when this device was made (Unix seconds), part of
	// its device certificate (auth.go).
	DeviceCreated int64      `json:"device_created,omitempty"`
	Server        ServerLink `json:"server"`
}

func (k *selfKeys) account() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.AccountSeed) }
func (k *selfKeys) device() ed25519.PrivateKey  { return ed25519.NewKeyFromSeed(k.DeviceSeed) }

func (k *selfKeys) accountKey() AccountKey {
	var a AccountKey
	copy(a[:], k.account().Public().(ed25519.PublicKey))
	return a
}

func (k *selfKeys) deviceKey() DeviceKey {
	var d DeviceKey
	copy(d[:], k.device().Public().(ed25519.PublicKey))
	return d
}

// mlsIdentity is the device's MLS identity: its Ed25519 device key and its
// device credential, certified by the account key (auth.go).
func (k *selfKeys) mlsIdentity() (*mls.Identity, error) {
	acct := k.account()
	defer clear(acct)
	return mls.IdentityFromKey(mls.DefaultCipherSuite, k.DeviceSeed, deviceCredential(acct, k.deviceKey(), uint64(max(k.DeviceCreated, 0))))
}

func (k *selfKeys) wipe() {
	clear(k.AccountSeed)
	clear(k.DeviceSeed)
}

// SafetyNumber is what two users compare (read aloud, or scan) to check
// that no server swapped their keys.
type SafetyNumber struct {
	// Digits is 60 digits in 12 groups of 5, the same on both sides.
	Digits string
	// QR is the same, as a string for a QR code.
	QR string
	// Devices: the number covers both accounts' signed device lists. False
	// when a list is not known yet (never online): the number then covers
	// the account keys only and changes once the lists are known.
	Devices bool
}

// safetyIterations makes forging a matching fingerprint expensive, as
// Signal's numeric fingerprints do.
const safetyIterations = 5200

// fingerprint is 30 bytes that stand for one account key and the device
// keys on its signed list (sorted), so that a device added or swapped
// changes the number (docs/spec/authentication.md §5).
func fingerprint(k AccountKey, devices []DeviceKey) []byte {
	devs := slices.Clone(devices)
	slices.SortFunc(devs, func(x, y DeviceKey) int { return bytes.Compare(x[:], y[:]) })
	in := append([]byte(nil), k[:]...)
	for _, d := range devs {
		in = append(in, d[:]...)
	}
	h := append([]byte("samizdat safety v2\x00"), in...)
	for range safetyIterations {
		s := sha512.Sum512(append(h, in...))
		h = s[:]
	}
	return h[:30]
}

// safetyNumber derives the safety number of two accounts and their device
// lists; it does not depend on the order of the two.
func safetyNumber(a, b AccountKey, da, db []DeviceKey) SafetyNumber {
	fa, fb := fingerprint(a, da), fingerprint(b, db)
	if string(a[:]) > string(b[:]) {
		fa, fb = fb, fa
	}
	var groups []string
	for _, f := range [][]byte{fa, fb} {
		for i := 0; i < 30; i += 5 {
			v := uint64(f[i])<<32 | uint64(binary.BigEndian.Uint32(f[i+1:i+5]))
			groups = append(groups, fmt.Sprintf("%05d", v%100000))
		}
	}
	return SafetyNumber{
		Digits: strings.Join(groups, " "),
		QR:     "SAMIZDAT-SAFETY:1:" + strings.ToUpper(hex.EncodeToString(fa)+hex.EncodeToString(fb)),
	}
}
