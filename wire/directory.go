package wire

import "fmt"

// Fixed-size identifiers. Keys are Ed25519 public keys; ids are SHA-256.
type (
	AccountKey [32]byte // an account's Ed25519 public key
	DeviceKey  [32]byte // a device's Ed25519 public key (also its MLS signature key)
	DeviceID   [32]byte // SHA-256(device public key)
	Signature  [64]byte // an Ed25519 signature
)

// RegisterDevice registers the session's device (the key securechan
// authenticated) under an account. DeviceCert is the account key's signature
// over "samizdat device v1" || device public key. Answer: OK.
type RegisterDevice struct {
	AccountKey AccountKey
	DeviceCert Signature
}

// RevokeDevice removes a device from its account: the server deletes it,
// its key packages and its mailbox. Signature is the account key's
// signature over "samizdat revoke v1" || device public key, so any session
// holding the account key can revoke a lost device. Answer: OK.
type RevokeDevice struct {
	AccountKey AccountKey
	DeviceKey  DeviceKey
	Signature  Signature
}

// LookupAccount asks for an account's devices. Answer: Devices or NotFound.
type LookupAccount struct {
	AccountKey AccountKey
}

// Devices answers LookupAccount.
type Devices struct {
	AccountKey AccountKey
	Devices    []DeviceEntry // at most MaxDevices
}

// DeviceEntry is one registered device; clients verify DeviceCert
// themselves and compute DeviceID = SHA-256(DeviceKey).
type DeviceEntry struct {
	DeviceKey  DeviceKey
	DeviceCert Signature
}

// PublishKeyPackages uploads the session device's MLS KeyPackages: one-time
// ones, and optionally a last-resort one that replaces the previous.
// Answer: KeyPackageCount.
type PublishKeyPackages struct {
	KeyPackages [][]byte // 0..MaxKeyPackages, each 1..MaxKeyPackageSize bytes
	LastResort  []byte   // empty = keep the current one
}

// CountKeyPackages asks how many one-time KeyPackages the session device has
// left, so it can top them up. Answer: KeyPackageCount.
type CountKeyPackages struct{}

// KeyPackageCount answers PublishKeyPackages and CountKeyPackages.
type KeyPackageCount struct {
	OneTime    uint32
	LastResort bool
}

// ClaimKeyPackages takes one KeyPackage for each device of an account (or of
// the listed devices only), to add them to a group. One-time packages are
// handed out once; the last-resort package when they run out.
// Answer: KeyPackages, or NotFound when no device has any.
type ClaimKeyPackages struct {
	AccountKey AccountKey
	Devices    []DeviceID // empty = every device of the account; at most MaxDevices
}

// KeyPackages answers ClaimKeyPackages.
type KeyPackages struct {
	KeyPackages []ClaimedKeyPackage // at most MaxDevices, distinct devices
}

// ClaimedKeyPackage is one device's KeyPackage.
type ClaimedKeyPackage struct {
	DeviceID   DeviceID
	LastResort bool   // true if this package may be handed out again
	KeyPackage []byte // 1..MaxKeyPackageSize bytes, an MLSMessage-framed KeyPackage
}

func (*RegisterDevice) Type() Type     { return TypeRegisterDevice }
func (*RevokeDevice) Type() Type       { return TypeRevokeDevice }
func (*LookupAccount) Type() Type      { return TypeLookupAccount }
func (*Devices) Type() Type            { return TypeDevices }
func (*PublishKeyPackages) Type() Type { return TypePublishKeyPackages }
func (*CountKeyPackages) Type() Type   { return TypeCountKeyPackages }
func (*KeyPackageCount) Type() Type    { return TypeKeyPackageCount }
func (*ClaimKeyPackages) Type() Type   { return TypeClaimKeyPackages }
func (*KeyPackages) Type() Type        { return TypeKeyPackages }

func (m *RegisterDevice) code(c coder) {
	c.fixed("account_key", m.AccountKey[:])
	c.fixed("device_cert", m.DeviceCert[:])
}
func (*RegisterDevice) validate() error { return nil }

func (m *RevokeDevice) code(c coder) {
	c.fixed("account_key", m.AccountKey[:])
	c.fixed("device_key", m.DeviceKey[:])
	c.fixed("signature", m.Signature[:])
}
func (*RevokeDevice) validate() error { return nil }

func (m *LookupAccount) code(c coder)  { c.fixed("account_key", m.AccountKey[:]) }
func (*LookupAccount) validate() error { return nil }

const deviceEntrySize = 32 + 64

func (m *Devices) code(c coder) {
	c.fixed("account_key", m.AccountKey[:])
	codeList(c, "devices", &m.Devices, MaxDevices, MaxDevices*deviceEntrySize, func(c coder, _ int, d *DeviceEntry) {
		c.fixed("device_key", d.DeviceKey[:])
		c.fixed("device_cert", d.DeviceCert[:])
	})
}

func (m *Devices) validate() error {
	seen := make(map[DeviceKey]bool, len(m.Devices))
	for i, d := range m.Devices {
		if seen[d.DeviceKey] {
			return fmt.Errorf("devices[%d]: %w: duplicate device key", i, ErrInvalid)
		}
		seen[d.DeviceKey] = true
	}
	return nil
}

func (m *PublishKeyPackages) code(c coder) {
	codeList(c, "key_packages", &m.KeyPackages, MaxKeyPackages, MaxFrame, func(c coder, i int, kp *[]byte) {
		c.bytes(fmt.Sprintf("key_packages[%d]", i), kp, 1, MaxKeyPackageSize)
	})
	c.bytes("last_resort", &m.LastResort, 0, MaxKeyPackageSize)
}

func (m *PublishKeyPackages) validate() error {
	if len(m.KeyPackages) == 0 && len(m.LastResort) == 0 {
		return fmt.Errorf("%w: nothing to publish (use CountKeyPackages to ask for the count)", ErrInvalid)
	}
	return nil
}

func (*CountKeyPackages) code(coder)      {}
func (*CountKeyPackages) validate() error { return nil }

func (m *KeyPackageCount) code(c coder) {
	c.u32("one_time", &m.OneTime)
	c.boolean("last_resort", &m.LastResort)
}
func (*KeyPackageCount) validate() error { return nil }

func (m *ClaimKeyPackages) code(c coder) {
	c.fixed("account_key", m.AccountKey[:])
	codeDeviceIDs(c, "devices", &m.Devices, MaxDevices)
}

// codeDeviceIDs codes a list of at most max device ids.
func codeDeviceIDs(c coder, field string, ids *[]DeviceID, max int) {
	codeList(c, field, ids, max, max*32, func(c coder, _ int, id *DeviceID) { c.fixed("device_id", id[:]) })
}

func (m *ClaimKeyPackages) validate() error { return distinctIDs("devices", m.Devices) }

func (m *KeyPackages) code(c coder) {
	codeList(c, "key_packages", &m.KeyPackages, MaxDevices, MaxFrame, func(c coder, i int, k *ClaimedKeyPackage) {
		c.fixed("device_id", k.DeviceID[:])
		c.boolean("last_resort", &k.LastResort)
		c.bytes(fmt.Sprintf("key_packages[%d]", i), &k.KeyPackage, 1, MaxKeyPackageSize)
	})
}

func (m *KeyPackages) validate() error {
	ids := make([]DeviceID, len(m.KeyPackages))
	for i := range m.KeyPackages {
		ids[i] = m.KeyPackages[i].DeviceID
	}
	return distinctIDs("key_packages", ids)
}

// distinctIDs rejects a repeated device id.
func distinctIDs(field string, ids []DeviceID) error {
	seen := make(map[DeviceID]bool, len(ids))
	for i, id := range ids {
		if seen[id] {
			return fmt.Errorf("%s[%d]: %w: duplicate device id", field, i, ErrInvalid)
		}
		seen[id] = true
	}
	return nil
}
