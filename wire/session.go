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

func (m *ClientHello) code(c coder) {
	c.u16("min_version", &m.MinVersion)
	c.u16("max_version", &m.MaxVersion)
}
func (m *ClientHello) validate() error { return checkRange(m.MinVersion, m.MaxVersion) }

func checkRange(min, max uint16) error {
	if min == 0 || min > max {
		return fmt.Errorf("%w: version range %d..%d", ErrInvalid, min, max)
	}
	return nil
}

func (m *ServerHello) code(c coder) {
	c.u16("version", &m.Version)
	c.u16("min_version", &m.MinVersion)
	c.u16("max_version", &m.MaxVersion)
	c.u64("server_time", &m.ServerTime)
	l := &m.Limits
	c.u32("limits.max_frame", &l.MaxFrame)
	c.u32("limits.max_payload", &l.MaxPayload)
	c.u32("limits.max_recipients", &l.MaxRecipients)
	c.u32("limits.max_key_packages", &l.MaxKeyPackages)
	c.u32("limits.max_key_package_size", &l.MaxKeyPackageSize)
	c.u32("limits.max_devices", &l.MaxDevices)
	c.u32("limits.max_group_info_size", &l.MaxGroupInfoSize)
	c.u32("limits.mailbox_retention", &l.MailboxRetention)
	c.u32("limits.idempotency_window", &l.IdempotencyWindow)
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

func (*Ping) code(coder)      {}
func (*Ping) validate() error { return nil }
func (*Pong) code(coder)      {}
func (*Pong) validate() error { return nil }
func (*OK) code(coder)        {}
func (*OK) validate() error   { return nil }

func (m *Error) code(c coder) {
	c.u16("code", (*uint16)(&m.Code))
	c.u32("retry_after", &m.RetryAfter)
	c.u64("current_epoch", &m.CurrentEpoch)
	c.text("message", &m.Message, MaxErrorMessage)
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
