package wire

import "fmt"

// MsgID is a client-chosen random message id; a retry reuses it.
type MsgID [16]byte

// GroupHash is SHA-256 of an MLS group id: the server never sees the id.
type GroupHash [32]byte

// Kind says what an opaque MLS message is, so that the Delivery Service can
// order commits without reading them.
type Kind uint8

const (
	KindApplication Kind = 1 // MLS PrivateMessage carrying application data
	KindProposal    Kind = 2 // MLS proposal (public or private)
	KindCommit      Kind = 3 // MLS commit: ordered by the Delivery Service
	KindWelcome     Kind = 4 // MLS Welcome for new members
)

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindApplication && k <= KindWelcome }

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindApplication:
		return "application"
	case KindProposal:
		return "proposal"
	case KindCommit:
		return "commit"
	case KindWelcome:
		return "welcome"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Send stores Payload in the mailbox of every recipient device. The server
// answers Ack only once the message is durable in every mailbox. For
// KindCommit the server first applies the Delivery Service rule: Epoch must
// equal the group's current epoch (an unknown group is created), then the
// epoch advances; otherwise Error{StaleEpoch, CurrentEpoch}. A MsgID the
// server has already accepted is acknowledged again without a second
// delivery.
type Send struct {
	MsgID      MsgID
	Group      GroupHash
	Epoch      uint64
	Kind       Kind
	Recipients []DeviceID // distinct, at most MaxRecipients; empty only for a commit
	Payload    []byte     // 1..MaxPayload bytes: one MLSMessage
}

// Ack answers Send.
type Ack struct {
	MsgID MsgID
}

// Subscribe asks the server to push Deliver for every entry of the session
// device's mailbox, pending ones first, then new ones as they arrive, in Seq
// order. Answer: OK (sent before the first Deliver).
type Subscribe struct{}

// Deliver is a push (request id 0): one mailbox entry. The sender is not
// named; it is inside the MLS message.
type Deliver struct {
	Seq     uint64 // per-device mailbox sequence number, from 1, increasing
	MsgID   MsgID
	Group   GroupHash
	Epoch   uint64
	Kind    Kind
	Payload []byte // 1..MaxPayload bytes
}

// AckDelivery deletes the session device's mailbox entries with
// Seq <= UpToSeq. Answer: OK. UpToSeq 0 acknowledges nothing (seqs start
// at 1); on a subscribed session it asks for a CaughtUp push
// (docs/spec/wire.md §6.6a): AskCaughtUp.
type AckDelivery struct {
	UpToSeq uint64
}

// AskCaughtUp is the request for a CaughtUp push: an AckDelivery of
// nothing, which every server answers with OK and which a server that
// does not know the marker takes as a no-op (wire.md §6.6a).
func AskCaughtUp() *AckDelivery { return &AckDelivery{UpToSeq: 0} }

// CaughtUp is a push (request id 0) that marks the end of the backlog: the
// server has pushed, on this session, every entry of the device's mailbox
// that was stored when it handled the AskCaughtUp before it (wire.md
// §6.6a). UpToSeq is the highest seq pushed on this session before the
// marker, 0 if none.
type CaughtUp struct {
	UpToSeq uint64
}

func (*Send) Type() Type        { return TypeSend }
func (*Ack) Type() Type         { return TypeAck }
func (*Subscribe) Type() Type   { return TypeSubscribe }
func (*Deliver) Type() Type     { return TypeDeliver }
func (*AckDelivery) Type() Type { return TypeAckDelivery }
func (*CaughtUp) Type() Type    { return TypeCaughtUp }

func (m *Send) code(c coder) {
	c.fixed("msg_id", m.MsgID[:])
	c.fixed("group", m.Group[:])
	c.u64("epoch", &m.Epoch)
	c.u8("kind", (*uint8)(&m.Kind))
	codeDeviceIDs(c, "recipients", &m.Recipients, MaxRecipients)
	c.bytes("payload", &m.Payload, 1, MaxPayload)
}

func (m *Send) validate() error {
	if !m.Kind.Valid() {
		return fmt.Errorf("kind: %w: %d", ErrInvalid, uint8(m.Kind))
	}
	if len(m.Recipients) == 0 && m.Kind != KindCommit {
		return fmt.Errorf("recipients: %w: a %v needs at least one recipient", ErrInvalid, m.Kind)
	}
	return distinctIDs("recipients", m.Recipients)
}

func (m *Ack) code(c coder)        { c.fixed("msg_id", m.MsgID[:]) }
func (*Ack) validate() error       { return nil }
func (*Subscribe) code(coder)      {}
func (*Subscribe) validate() error { return nil }

func (m *Deliver) code(c coder) {
	c.u64("seq", &m.Seq)
	c.fixed("msg_id", m.MsgID[:])
	c.fixed("group", m.Group[:])
	c.u64("epoch", &m.Epoch)
	c.u8("kind", (*uint8)(&m.Kind))
	c.bytes("payload", &m.Payload, 1, MaxPayload)
}

func (m *Deliver) validate() error {
	if m.Seq == 0 {
		return fmt.Errorf("seq: %w: sequence numbers start at 1", ErrInvalid)
	}
	if !m.Kind.Valid() {
		return fmt.Errorf("kind: %w: %d", ErrInvalid, uint8(m.Kind))
	}
	return nil
}

func (m *AckDelivery) code(c coder)  { c.u64("up_to_seq", &m.UpToSeq) }
func (*AckDelivery) validate() error { return nil }
func (m *CaughtUp) code(c coder)     { c.u64("up_to_seq", &m.UpToSeq) }
func (*CaughtUp) validate() error    { return nil }
