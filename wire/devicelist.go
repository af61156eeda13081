package wire

// Signed device lists (docs/spec/authentication.md §3): each account
// publishes a versioned list of its devices, signed by its account key. The
// server stores the list as opaque bytes and only checks that the version
// grows; clients verify the signature and refuse a version older than one
// they saw (a rollback).
const (
	TypePublishDeviceList Type = 0x0060
	TypeFetchDeviceList   Type = 0x0061
	TypeDeviceList        Type = 0x0160
)

// MaxDeviceList bounds an encoded device list (MaxDevices entries fit).
const MaxDeviceList = 4096

// PublishDeviceList stores the signed device list of the session device's
// account. Version must be greater than the stored list's (the same
// version with the same bytes again is accepted). Answer: OK, or Conflict
// for an older or equal version with other bytes.
type PublishDeviceList struct {
	AccountKey AccountKey
	Version    uint64
	List       []byte // 1..MaxDeviceList bytes, opaque to the server
}

// FetchDeviceList asks for an account's latest signed device list.
// Answer: DeviceList, or NotFound.
type FetchDeviceList struct {
	AccountKey AccountKey
}

// DeviceList answers FetchDeviceList.
type DeviceList struct {
	AccountKey AccountKey
	Version    uint64
	List       []byte // 1..MaxDeviceList bytes
}

func (*PublishDeviceList) Type() Type { return TypePublishDeviceList }
func (*FetchDeviceList) Type() Type   { return TypeFetchDeviceList }
func (*DeviceList) Type() Type        { return TypeDeviceList }

func (m *PublishDeviceList) code(c coder) {
	c.fixed("account_key", m.AccountKey[:])
	c.u64("version", &m.Version)
	c.bytes("list", &m.List, 1, MaxDeviceList)
}

func (*PublishDeviceList) validate() error { return nil }

func (m *FetchDeviceList) code(c coder)  { c.fixed("account_key", m.AccountKey[:]) }
func (*FetchDeviceList) validate() error { return nil }

// A DeviceList is encoded as the PublishDeviceList it answers with.
func (m *DeviceList) code(c coder) { (*PublishDeviceList)(m).code(c) }

func (*DeviceList) validate() error { return nil }

// deviceListMessages lists the device list messages, each request with the
// type that answers it.
var deviceListMessages = []kind{
	msg[PublishDeviceList](TypeOK),
	msg[FetchDeviceList](TypeDeviceList),
	msg[DeviceList](0),
}
