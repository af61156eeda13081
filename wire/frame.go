package wire

import (
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/internal/tlspl"
)

// Version is the only protocol version this package speaks. The header layout
// and the ClientHello, ServerHello and Error bodies are frozen across versions
// so that version negotiation always works (docs/spec/wire.md, "Versions").
const Version uint16 = 1

// HeaderSize is the size of the frame header: version, type, request id.
const HeaderSize = 8

// Limits every decoder enforces. A server may announce smaller ones in
// ServerHello; it never accepts larger ones.
const (
	MaxFrame          = 1 << 20    // one secure-channel message
	MaxPayload        = 960 << 10  // Send/Deliver payload: one MLS message
	MaxRecipients     = 1000       // device ids per Send
	MaxKeyPackageSize = 16 << 10   // one encoded MLS KeyPackage
	MaxKeyPackages    = 50         // one-time KeyPackages per PublishKeyPackages
	MaxDevices        = 32         // devices per account (Devices, KeyPackages)
	MaxGroupInfoSize  = MaxPayload // one (possibly sealed) MLS GroupInfo
	MaxErrorMessage   = 1024       // bytes of Error.Message
)

// Errors reported by Decode and Encode, always wrapped with the message and
// field they concern ("wire: decoding Send: recipients: ...").
var (
	ErrTruncated          = tlspl.ErrTruncated
	ErrTrailing           = tlspl.ErrTrailing
	ErrTooLarge           = tlspl.ErrTooLarge
	ErrUnknownType        = errors.New("unknown message type")
	ErrUnsupportedVersion = errors.New("unsupported protocol version")
	ErrInvalid            = tlspl.ErrInvalid
)

// Type identifies a message. The high byte is its Class.
type Type uint16

// Class says who sends a message and whether it answers a request.
type Class uint8

const (
	ClassRequest  Class = 0 // client -> server, RequestID != 0
	ClassResponse Class = 1 // server -> client, echoes the request's RequestID
	ClassPush     Class = 2 // server -> client, RequestID == 0
)

// Message types. Numbers are part of the protocol; never reuse one.
const (
	TypeClientHello        Type = 0x0001
	TypePing               Type = 0x0002
	TypeRegisterDevice     Type = 0x0003
	TypeRevokeDevice       Type = 0x0004
	TypeLookupAccount      Type = 0x0005
	TypePublishKeyPackages Type = 0x0006
	TypeCountKeyPackages   Type = 0x0007
	TypeClaimKeyPackages   Type = 0x0008
	TypeSend               Type = 0x0009
	TypeSubscribe          Type = 0x000A
	TypeAckDelivery        Type = 0x000B
	TypePublishGroupInfo   Type = 0x000C
	TypeFetchGroupInfo     Type = 0x000D

	TypeServerHello     Type = 0x0101
	TypePong            Type = 0x0102
	TypeOK              Type = 0x0103
	TypeError           Type = 0x0104
	TypeDevices         Type = 0x0105
	TypeKeyPackageCount Type = 0x0106
	TypeKeyPackages     Type = 0x0107
	TypeAck             Type = 0x0108
	TypeGroupInfo       Type = 0x0109

	TypeDeliver Type = 0x0201
)

// kind is what the codec knows of a message type: how to make an empty
// message of it and, for a request, the type that answers it (Error may
// always answer instead).
type kind struct {
	new    func() Message
	answer Type // 0 unless a request
}

// msg is the kind of message type T, answered by answer.
func msg[T any, P interface {
	*T
	Message
}](answer Type) kind {
	return kind{new: func() Message { return P(new(T)) }, answer: answer}
}

// coreMessages lists the mailbox and key package messages.
var coreMessages = []kind{
	msg[ClientHello](TypeServerHello),
	msg[Ping](TypePong),
	msg[RegisterDevice](TypeOK),
	msg[RevokeDevice](TypeOK),
	msg[LookupAccount](TypeDevices),
	msg[PublishKeyPackages](TypeKeyPackageCount),
	msg[CountKeyPackages](TypeKeyPackageCount),
	msg[ClaimKeyPackages](TypeKeyPackages),
	msg[Send](TypeAck),
	msg[Subscribe](TypeOK),
	msg[AckDelivery](TypeOK),
	msg[PublishGroupInfo](TypeOK),
	msg[FetchGroupInfo](TypeGroupInfo),
	msg[ServerHello](0),
	msg[Pong](0),
	msg[OK](0),
	msg[Error](0),
	msg[Devices](0),
	msg[KeyPackageCount](0),
	msg[KeyPackages](0),
	msg[Ack](0),
	msg[GroupInfo](0),
	msg[Deliver](0),
}

// kinds holds every message type of this version, from the lists each
// file keeps of its own.
var kinds = indexKinds(coreMessages, channelMessages, linkMessages, bookMessages, deviceListMessages, blobMessages, relayRegMessages, distributionMessages)

// indexKinds maps each kind's type to it; a type listed twice is a
// programming error.
func indexKinds(lists ...[]kind) map[Type]kind {
	m := make(map[Type]kind)
	for _, l := range lists {
		for _, k := range l {
			t := k.new().Type()
			if _, dup := m[t]; dup {
				panic(fmt.Sprintf("wire: message type %#04x listed twice", uint16(t)))
			}
			m[t] = k
		}
	}
	return m
}

// newMessage returns an empty message of type t, or nil if t is unknown.
func newMessage(t Type) Message {
	if k, ok := kinds[t]; ok {
		return k.new()
	}
	return nil
}

// Class returns who sends messages of type t.
func (t Type) Class() Class { return Class(t >> 8) }

// Known reports whether t is a message type of this version.
func (t Type) Known() bool { return newMessage(t) != nil }

// String returns the message name, e.g. "Send".
func (t Type) String() string {
	if m := newMessage(t); m != nil {
		return fmt.Sprintf("%T", m)[len("*wire."):]
	}
	return fmt.Sprintf("Type(0x%04x)", uint16(t))
}

// Message is one protocol message body. The set is closed: only this
// package's types implement it.
type Message interface {
	Type() Type
	// code lists the message's fields in order, for the coder to write
	// or read.
	code(c coder)
	// validate checks what the field codecs cannot: value ranges and
	// relations between fields. Encode and Decode both run it.
	validate() error
}

// Header is the fixed start of every frame.
type Header struct {
	Version   uint16
	Type      Type
	RequestID uint32
}

// Frame is one decoded secure-channel message.
type Frame struct {
	// RequestID is chosen by the client for a request and echoed in its
	// response; it is 0 for pushes and for an Error about the connection
	// itself (sent just before the server closes it).
	RequestID uint32
	Msg       Message
}

// checkRequestID enforces the request id rule of each class.
func checkRequestID(t Type, id uint32) error {
	switch {
	case t.Class() == ClassPush && id != 0:
		return fmt.Errorf("%w: request id %d on a push, must be 0", ErrInvalid, id)
	case t.Class() != ClassPush && t != TypeError && id == 0:
		return fmt.Errorf("%w: request id 0 is reserved for pushes and connection errors", ErrInvalid)
	}
	return nil
}

// Encode returns the frame's encoding in protocol Version. It fails, without
// producing anything, on a value the decoder would reject.
func Encode(f Frame) ([]byte, error) {
	size := 64
	if h, ok := f.Msg.(interface{ sizeHint() int }); ok {
		size = HeaderSize + h.sizeHint() // one allocation for a large frame, not one per doubling
	}
	return AppendEncode(make([]byte, 0, size), f)
}

// AppendEncode is Encode appending to dst: a sender that reuses dst once
// the frame is sent allocates nothing per frame.
func AppendEncode(dst []byte, f Frame) ([]byte, error) {
	if f.Msg == nil {
		return nil, errors.New("wire: encoding: nil message")
	}
	t := f.Msg.Type()
	if err := checkRequestID(t, f.RequestID); err != nil {
		return nil, fmt.Errorf("wire: encoding %v: %w", t, err)
	}
	if err := f.Msg.validate(); err != nil {
		return nil, fmt.Errorf("wire: encoding %v: %w", t, err)
	}
	w := newWriter(dst)
	w.u16(Version)
	w.u16(uint16(t))
	w.u32(f.RequestID)
	f.Msg.code(coder{w: &w})
	if err := w.Err(); err != nil {
		return nil, fmt.Errorf("wire: encoding %v: %w", t, err)
	}
	if n := w.Len() - len(dst); n > MaxFrame {
		return nil, fmt.Errorf("wire: encoding %v: %w: frame is %d bytes > limit %d", t, ErrTooLarge, n, MaxFrame)
	}
	return w.Bytes(), nil
}

// ParseHeader reads the frame header without looking at the body. When the
// version is not Version it returns the header together with an error
// wrapping ErrUnsupportedVersion, so that a server can still answer with an
// Error that echoes the request id.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("wire: decoding header: %w: %d bytes, need %d", ErrTruncated, len(b), HeaderSize)
	}
	h := Header{
		Version:   uint16(b[0])<<8 | uint16(b[1]),
		Type:      Type(uint16(b[2])<<8 | uint16(b[3])),
		RequestID: uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]),
	}
	if h.Version != Version {
		return h, fmt.Errorf("wire: decoding header: %w: version %d, this side speaks %d", ErrUnsupportedVersion, h.Version, Version)
	}
	return h, nil
}

// Decode parses one frame. It accepts exactly the encodings Encode produces.
func Decode(b []byte) (Frame, error) { return decode(b, false) }

// DecodeShared is Decode without copying the chunk bytes of a PutChunk or
// a Chunk: their Data is part of b, so b must stay unchanged as long as
// Data is used. Every other field is a copy, as with Decode. A server
// storing chunks and a client downloading them save a 256 KiB copy and
// allocation per chunk this way.
func DecodeShared(b []byte) (Frame, error) { return decode(b, true) }

func decode(b []byte, share bool) (Frame, error) {
	if len(b) > MaxFrame {
		return Frame{}, fmt.Errorf("wire: decoding: %w: frame is %d bytes > limit %d", ErrTooLarge, len(b), MaxFrame)
	}
	h, err := ParseHeader(b)
	if err != nil {
		return Frame{}, err
	}
	m := newMessage(h.Type)
	if m == nil {
		return Frame{}, fmt.Errorf("wire: decoding: %w: 0x%04x", ErrUnknownType, uint16(h.Type))
	}
	if err := checkRequestID(h.Type, h.RequestID); err != nil {
		return Frame{}, fmt.Errorf("wire: decoding %v: %w", h.Type, err)
	}
	r := newReader(b[HeaderSize:])
	if share {
		r.share, r.frame = true, b
	}
	m.code(coder{r: &r})
	if err := r.done(); err != nil {
		return Frame{}, fmt.Errorf("wire: decoding %v: %w", h.Type, err)
	}
	if err := m.validate(); err != nil {
		return Frame{}, fmt.Errorf("wire: decoding %v: %w", h.Type, err)
	}
	return Frame{RequestID: h.RequestID, Msg: m}, nil
}
