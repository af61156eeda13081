package wire

// PublishGroupInfo stores the latest GroupInfo of a group, so that a member
// who lost all its devices (or a new device of a member) can rejoin with an
// MLS external commit (RFC 9420 §12.4.3.2). The server keeps one per group,
// accepts it only for the group's current epoch, and treats it as opaque:
// clients should seal it (docs/spec/wire.md, "Group info"). Answer: OK.
type PublishGroupInfo struct {
	Group     GroupHash
	Epoch     uint64
	GroupInfo []byte // 1..MaxGroupInfoSize bytes
}

// FetchGroupInfo asks for a group's latest GroupInfo.
// Answer: GroupInfo or NotFound.
type FetchGroupInfo struct {
	Group GroupHash
}

// GroupInfo answers FetchGroupInfo.
type GroupInfo struct {
	Group     GroupHash
	Epoch     uint64
	GroupInfo []byte // 1..MaxGroupInfoSize bytes
}

func (*PublishGroupInfo) Type() Type { return TypePublishGroupInfo }
func (*FetchGroupInfo) Type() Type   { return TypeFetchGroupInfo }
func (*GroupInfo) Type() Type        { return TypeGroupInfo }

func (m *PublishGroupInfo) code(c coder) {
	c.fixed("group", m.Group[:])
	c.u64("epoch", &m.Epoch)
	c.bytes("group_info", &m.GroupInfo, 1, MaxGroupInfoSize)
}

func (*PublishGroupInfo) validate() error { return nil }

func (m *FetchGroupInfo) code(c coder)  { c.fixed("group", m.Group[:]) }
func (*FetchGroupInfo) validate() error { return nil }

// A GroupInfo is encoded as the PublishGroupInfo it answers with.
func (m *GroupInfo) code(c coder) { (*PublishGroupInfo)(m).code(c) }

func (*GroupInfo) validate() error { return nil }
