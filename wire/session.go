package wire

import "fmt"

// ClientHello is the client's first request on a new secure channel: the
// range of protocol versions it speaks. Its frame always carries header
// version 1, whatever the range (its layout is frozen).
type ClientHello struct {
	MinVersion, MaxVersion uint16
}

// ServerHello answers ClientHello: the version chosen (the highest both
// speak), the server's own range, its clock and the limits it enforces.
type ServerHello struct {
	Version                uint16
	MinVersion, MaxVersion uint16
	ServerTime             uint64 // Unix seconds; lets a client with a wrong clock check expiries
	Limits                 Limits
}

// Limits are the server's own limits, each at most the protocol's constant.
type Limits struct {
	MaxFrame          uint32
	MaxPayload        uint32
	MaxRecipients     uint32
	MaxKeyPackages    uint32
	MaxKeyPackageSize uint32
	MaxDevices        uint32
	MaxGroupInfoSize  uint32
	MailboxRetention  uint32 // seconds an unacknowledged mailbox entry is kept
	IdempotencyWindow uint32 // seconds a MsgID is remembered for retries
}

// ProtocolLimits are the protocol's maxima, a server's default Limits.
var ProtocolLimits = Limits{
	MaxFrame: MaxFrame, MaxPayload: MaxPayload, MaxRecipients: MaxRecipients,
	MaxKeyPackages: MaxKeyPackages, MaxKeyPackageSize: MaxKeyPackageSize,
	MaxDevices: MaxDevices, MaxGroupInfoSize: MaxGroupInfoSize,
	MailboxRetention: 30 * 24 * 3600, IdempotencyWindow: 7 * 24 * 3600,
}

// Ping asks for a Pong; it keeps the channel (and NAT bindings) alive.
type Ping struct{}

// Pong answers Ping.
type Pong struct{}

// OK answers a request that succeeded and returns nothing.
type OK struct{}

// Error answers a request that failed, or, with request id 0, reports a
// connection-level failure just before the server closes the channel.
type Error struct {
	Code         ErrorCode
	RetryAfter   uint32 // seconds; 0 = no advice
	CurrentEpoch uint64 // the group's current epoch; only for CodeStaleEpoch
	Message      string // UTF-8, at most MaxErrorMessage bytes, for logs and the user
}

// Error makes a protocol Error usable as a Go error.
func (e *Error) Error() string {
	s := fmt.Sprintf("wire: server error %v", e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Code == CodeStaleEpoch {
		s += fmt.Sprintf(" (current epoch %d)", e.CurrentEpoch)
	}
	return s
}

func (*ClientHello) Type() Type { return TypeClientHello }
func (*ServerHello) Type() Type { return TypeServerHello }
func (*Ping) Type() Type        { return TypePing }
func (*Pong) Type() Type        { return TypePong }
func (*OK) Type() Type          { return TypeOK }
func (*Error) Type() Type       { return TypeError }

func (m *ClientHello) encode(w *writer) { w.u16(m.MinVersion); w.u16(m.MaxVersion) }
func (m *ClientHello) decode(r *reader) {
	m.MinVersion = r.u16("min_version")
	m.MaxVersion = r.u16("max_version")
}
func (m *ClientHello) validate() error { return checkRange(m.MinVersion, m.MaxVersion) }

func checkRange(min, max uint16) error {
	if min == 0 || min > max {
		return fmt.Errorf("%w: version range %d..%d", ErrInvalid, min, max)
	}
	return nil
}

func (m *ServerHello) encode(w *writer) {
	w.u16(m.Version)
	w.u16(m.MinVersion)
	w.u16(m.MaxVersion)
	w.u64(m.ServerTime)
	l := &m.Limits
	for _, v := range []uint32{l.MaxFrame, l.MaxPayload, l.MaxRecipients, l.MaxKeyPackages,
		l.MaxKeyPackageSize, l.MaxDevices, l.MaxGroupInfoSize, l.MailboxRetention, l.IdempotencyWindow} {
		w.u32(v)
	}
}

func (m *ServerHello) decode(r *reader) {
	m.Version = r.u16("version")
	m.MinVersion = r.u16("min_version")
	m.MaxVersion = r.u16("max_version")
	m.ServerTime = r.u64("server_time")
	l := &m.Limits
	l.MaxFrame = r.u32("limits.max_frame")
	l.MaxPayload = r.u32("limits.max_payload")
	l.MaxRecipients = r.u32("limits.max_recipients")
	l.MaxKeyPackages = r.u32("limits.max_key_packages")
	l.MaxKeyPackageSize = r.u32("limits.max_key_package_size")
	l.MaxDevices = r.u32("limits.max_devices")
	l.MaxGroupInfoSize = r.u32("limits.max_group_info_size")
	l.MailboxRetention = r.u32("limits.mailbox_retention")
	l.IdempotencyWindow = r.u32("limits.idempotency_window")
}

func (m *ServerHello) validate() error {
	if err := checkRange(m.MinVersion, m.MaxVersion); err != nil {
		return err
	}
	if m.Version < m.MinVersion || m.Version > m.MaxVersion {
		return fmt.Errorf("%w: chosen version %d outside the server's range %d..%d", ErrInvalid, m.Version, m.MinVersion, m.MaxVersion)
	}
	return m.Limits.check()
}

// check verifies that every limit is positive and at most the protocol's.
func (l *Limits) check() error {
	p := ProtocolLimits
	for _, c := range []struct {
		name     string
		v, limit uint32
	}{
		{"max_frame", l.MaxFrame, p.MaxFrame},
		{"max_payload", l.MaxPayload, p.MaxPayload},
		{"max_recipients", l.MaxRecipients, p.MaxRecipients},
		{"max_key_packages", l.MaxKeyPackages, p.MaxKeyPackages},
		{"max_key_package_size", l.MaxKeyPackageSize, p.MaxKeyPackageSize},
		{"max_devices", l.MaxDevices, p.MaxDevices},
		{"max_group_info_size", l.MaxGroupInfoSize, p.MaxGroupInfoSize},
	} {
		if c.v == 0 || c.v > c.limit {
			return fmt.Errorf("limits.%s: %w: %d, must be 1..%d", c.name, ErrInvalid, c.v, c.limit)
		}
	}
	return nil
}

func (*Ping) encode(*writer)  {}
func (*Ping) decode(*reader)  {}
func (*Ping) validate() error { return nil }
func (*Pong) encode(*writer)  {}
func (*Pong) decode(*reader)  {}
func (*Pong) validate() error { return nil }
func (*OK) encode(*writer)    {}
func (*OK) decode(*reader)    {}
func (*OK) validate() error   { return nil }

func (m *Error) encode(w *writer) {
	w.u16(uint16(m.Code))
	w.u32(m.RetryAfter)
	w.u64(m.CurrentEpoch)
	w.text("message", m.Message, MaxErrorMessage)
}

func (m *Error) decode(r *reader) {
	m.Code = ErrorCode(r.u16("code"))
	m.RetryAfter = r.u32("retry_after")
	m.CurrentEpoch = r.u64("current_epoch")
	m.Message = r.text("message", MaxErrorMessage)
}

func (m *Error) validate() error {
	if !m.Code.Known() {
		return fmt.Errorf("code: %w: unknown error code %d", ErrInvalid, uint16(m.Code))
	}
	if m.Code != CodeStaleEpoch && m.CurrentEpoch != 0 {
		return fmt.Errorf("current_epoch: %w: set on a %v error, only StaleEpoch carries it", ErrInvalid, m.Code)
	}
	return nil
}
