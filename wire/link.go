package wire

// Device-linking messages (docs/spec/device-linking.md): a new device that
// has no account yet opens a short-lived linking mailbox on the server; a
// device of the account reads the new device's offer from it and deposits
// the account, sealed with HPKE to the new device's one-time link key; the
// new device takes it once. The server only relays opaque bytes: the
// mailbox id is a hash of a secret the server never sees, and the sealed
// account opens only with the new device's link private key.
const (
	TypeLinkOpen    Type = 0x0050 // new device, no registration needed
	TypeLinkLookup  Type = 0x0051 // approving device, needs a device
	TypeLinkApprove Type = 0x0052 // approving device, needs a device
	TypeLinkFetch   Type = 0x0053 // new device (the one that opened the mailbox)

	TypeLinkOffer Type = 0x0150
	TypeLinkBlob  Type = 0x0151
)

// Link limits.
const (
	// MaxLinkKey bounds a link public key (an X-Wing key is 1,216 bytes).
	MaxLinkKey = 4096
	// MaxLinkSealed bounds a sealed account (seed, name, contacts).
	MaxLinkSealed = 256 << 10
)

// LinkOpen opens (or reopens) the linking mailbox Mailbox for the session's
// device key, with the new device's HPKE link public key. Answer: OK.
type LinkOpen struct {
	Mailbox [32]byte
	LinkKey []byte // 1..MaxLinkKey bytes
}

// LinkLookup reads the offer in a linking mailbox. Answer: LinkOffer, or
// NotFound (unknown or expired).
type LinkLookup struct {
	Mailbox [32]byte
}

// LinkOffer answers LinkLookup: the device key that opened the mailbox,
// its link public key and when the mailbox expires (Unix seconds).
type LinkOffer struct {
	DeviceKey DeviceKey
	LinkKey   []byte // 1..MaxLinkKey bytes
	ExpiresAt uint64
}

// LinkApprove deposits the sealed account in a linking mailbox, once.
// Answer: OK; NotFound (unknown or expired); Conflict (already approved).
type LinkApprove struct {
	Mailbox [32]byte
	Sealed  []byte // 1..MaxLinkSealed bytes
}

// LinkFetch takes the sealed account from the session's own linking
// mailbox. Answer: LinkBlob (empty while no device approved; the mailbox is
// deleted when it is handed out), or NotFound.
type LinkFetch struct {
	Mailbox [32]byte
}

// LinkBlob answers LinkFetch.
type LinkBlob struct {
	Sealed []byte // 0..MaxLinkSealed bytes; empty = not approved yet
}

func (*LinkOpen) Type() Type    { return TypeLinkOpen }
func (*LinkLookup) Type() Type  { return TypeLinkLookup }
func (*LinkOffer) Type() Type   { return TypeLinkOffer }
func (*LinkApprove) Type() Type { return TypeLinkApprove }
func (*LinkFetch) Type() Type   { return TypeLinkFetch }
func (*LinkBlob) Type() Type    { return TypeLinkBlob }

func (m *LinkOpen) code(c coder) {
	c.fixed("mailbox", m.Mailbox[:])
	c.bytes("link_key", &m.LinkKey, 1, MaxLinkKey)
}
func (*LinkOpen) validate() error { return nil }

func (m *LinkLookup) code(c coder)  { c.fixed("mailbox", m.Mailbox[:]) }
func (*LinkLookup) validate() error { return nil }

func (m *LinkOffer) code(c coder) {
	c.fixed("device_key", m.DeviceKey[:])
	c.bytes("link_key", &m.LinkKey, 1, MaxLinkKey)
	c.u64("expires_at", &m.ExpiresAt)
}
func (*LinkOffer) validate() error { return nil }

func (m *LinkApprove) code(c coder) {
	c.fixed("mailbox", m.Mailbox[:])
	c.bytes("sealed", &m.Sealed, 1, MaxLinkSealed)
}
func (*LinkApprove) validate() error { return nil }

func (m *LinkFetch) code(c coder)  { c.fixed("mailbox", m.Mailbox[:]) }
func (*LinkFetch) validate() error { return nil }

func (m *LinkBlob) code(c coder)  { c.bytes("sealed", &m.Sealed, 0, MaxLinkSealed) }
func (*LinkBlob) validate() error { return nil }

// linkMessages lists the device-linking messages
// (docs/spec/device-linking.md), each request with the type that answers
// it.
var linkMessages = []kind{
	msg[LinkOpen](TypeOK),
	msg[LinkLookup](TypeLinkOffer),
	msg[LinkApprove](TypeOK),
	msg[LinkFetch](TypeLinkBlob),
	msg[LinkOffer](0),
	msg[LinkBlob](0),
}
