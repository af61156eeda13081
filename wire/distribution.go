package wire

import "fmt"

// Relay distribution (docs/spec/wire.md, "Distribution"; reach/doc.go,
// "Distribution against enumeration"): invitations take an account out of
// probation, and clients report the relays of their book that stopped
// working while others work, so the server replaces them.
const (
	TypeRequestInvitation Type = 0x0042
	TypeRedeemInvitation  Type = 0x0043
	TypeReportBlocked     Type = 0x0044
	TypeInvitation        Type = 0x0142
)

// Limits of the distribution messages.
const (
	InvitationToken   = 92 // bytes of an invitation token (reach.InvitationSize)
	MaxReportedRelays = 8  // relay IDs in one ReportBlocked
	MaxRelayID        = 64 // bytes of one relay ID (reach's entry IDs are shorter)
)

// RequestInvitation asks for an invitation token to hand to a new user.
// Answer: Invitation; Unauthorized when the account is on probation (only
// trusted accounts invite); RateLimited when its invitations for the
// period are spent; NotFound when the server publishes no book.
type RequestInvitation struct{}

// Invitation answers RequestInvitation: a single-use token, opaque to the
// client, that travels in the invite link.
type Invitation struct {
	Token []byte // InvitationToken bytes
}

// RedeemInvitation records that the session's account was invited by the
// token's issuer. Answer: OK; BadRequest for a token that is not this
// server's, expired or already redeemed; Conflict when the account was
// invited before (an account has one inviter).
type RedeemInvitation struct {
	Token []byte // InvitationToken bytes
}

// ReportBlocked says that these relays of the account's book fail while
// other paths work. Answer: Book, the account's edition after the report
// (a relay counts as blocked only once several independent trusted
// accounts that were handed it report it; the server then revokes it and
// hands a replacement). Unauthorized when the account is on probation:
// its reports do not count.
type ReportBlocked struct {
	IDs []string // 1..MaxReportedRelays relay entry IDs
}

func (*RequestInvitation) Type() Type { return TypeRequestInvitation }
func (*Invitation) Type() Type        { return TypeInvitation }
func (*RedeemInvitation) Type() Type  { return TypeRedeemInvitation }
func (*ReportBlocked) Type() Type     { return TypeReportBlocked }

func (*RequestInvitation) code(coder)      {}
func (*RequestInvitation) validate() error { return nil }

func (m *Invitation) code(c coder)  { c.bytes("token", &m.Token, InvitationToken, InvitationToken) }
func (*Invitation) validate() error { return nil }

func (m *RedeemInvitation) code(c coder) {
	c.bytes("token", &m.Token, InvitationToken, InvitationToken)
}
func (*RedeemInvitation) validate() error { return nil }

func (m *ReportBlocked) code(c coder) {
	codeList(c, "ids", &m.IDs, MaxReportedRelays, MaxReportedRelays*(MaxRelayID+4),
		func(c coder, _ int, id *string) { c.text("id", id, MaxRelayID) })
}

func (m *ReportBlocked) validate() error {
	if len(m.IDs) == 0 {
		return fmt.Errorf("ids: %w: empty", ErrInvalid)
	}
	for _, id := range m.IDs {
		if id == "" {
			return fmt.Errorf("id: %w: empty", ErrInvalid)
		}
	}
	return nil
}

// distributionMessages lists the distribution messages, each request with
// the type that answers it.
var distributionMessages = []kind{
	msg[RequestInvitation](TypeInvitation),
	msg[Invitation](0),
	msg[RedeemInvitation](TypeOK),
	msg[ReportBlocked](TypeBook),
}
