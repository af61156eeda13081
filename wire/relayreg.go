package wire

import "fmt"

// Relay registration (docs/spec/wire.md, "Later additions"): a volunteer
// relay the operator trusts proves it holds the server's registration token
// and asks to be published in the endpoint book. The relay speaks on a
// secure channel with a throwaway device key; it needs no registered device.
const TypeRegisterRelay Type = 0x0041

// Limits of RegisterRelay's fields.
const (
	MinRelayToken = 16   // bytes of registration token, at least
	MaxRelayToken = 256  // and at most
	MaxRelaySpec  = 4096 // bytes of the transport spec text
	MaxRelayLabel = 64   // bytes of the label
)

// RegisterRelay asks the server to publish (or refresh) a relay in its
// endpoint book. Token is the operator's registration token; Spec is the
// relay's transport spec as text (tlsws://host:port?…), what clients dial;
// Label names the relay for people. Answer: OK, Unauthorized for a wrong
// token (nothing is stored), BadRequest for a spec the server refuses,
// NotFound when the server takes no registrations.
type RegisterRelay struct {
	Token []byte
	Spec  string
	Label string
}

func (*RegisterRelay) Type() Type { return TypeRegisterRelay }

func (m *RegisterRelay) code(c coder) {
	c.bytes("token", &m.Token, MinRelayToken, MaxRelayToken)
	c.text("spec", &m.Spec, MaxRelaySpec)
	c.text("label", &m.Label, MaxRelayLabel)
}

func (m *RegisterRelay) validate() error {
	if m.Spec == "" {
		return fmt.Errorf("spec: %w: empty", ErrInvalid)
	}
	return nil
}

// relayRegMessages lists the relay registration message, each request with
// the type that answers it.
var relayRegMessages = []kind{
	msg[RegisterRelay](TypeOK),
}
