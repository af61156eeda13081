package reach

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Invitations (doc.go, "Distribution against enumeration"): an account
// leaves probation only when it redeems an invitation from an account the
// server trusts, or from the operator. An invitation token is minted by the
// server (for a trusted account that asks, wire.RequestInvitation) or by
// the operator's command with the server's secret, travels in the invite
// link the inviter hands over, and is redeemed once (wire.RedeemInvitation).
// The server then records who invited whom.
//
// Token encoding (docs/spec/wire.md, "Distribution"):
//
//	"SZI" | u8 format (1) | 32 issuer | 16 nonce | u64 not_after (Unix s)
//	32-byte HMAC-SHA256 under the invitation key over everything before it
//
// The issuer is the inviting account's ID (SHA-256 of its key), all zero
// for the operator. The token is opaque to clients.
const (
	inviteMagic  = "SZI"
	inviteFormat = 1
	// InvitationSize is the length of an invitation token.
	InvitationSize = len(inviteMagic) + 1 + 32 + 16 + 8 + 32
	inviteKeyCtx   = "samizdat/reach invitation key v1"
)

// Invitation is a token's content.
type Invitation struct {
	Issuer   [32]byte // account ID of the inviter; zero: the operator
	Nonce    [16]byte // what makes it single-use
	NotAfter time.Time
}

// Operator reports whether the operator minted the invitation.
func (in Invitation) Operator() bool { return in.Issuer == [32]byte{} }

// Errors of OpenInvitation.
var (
	ErrBadInvitation     = errors.New("reach: not an invitation of this server")
	ErrExpiredInvitation = errors.New("reach: the invitation has expired; ask for a new one")
)

// InvitationKey derives the key that MACs invitations from the server's
// slice secret, so that the operator's command and the server agree
// without another secret file.
func InvitationKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(inviteKeyCtx))
	return m.Sum(nil)
}

// MintInvitation encodes and MACs in under key (InvitationKey).
func MintInvitation(key []byte, in Invitation) []byte {
	b := make([]byte, 0, InvitationSize)
	b = append(b, inviteMagic...)
	b = append(b, inviteFormat)
	b = append(b, in.Issuer[:]...)
	b = append(b, in.Nonce[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(max(in.NotAfter.Unix(), 0)))
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b)
}

// OpenInvitation checks a token's MAC (in constant time) and expiry and
// returns its content. It does not know whether the token was redeemed
// before: the server keeps the nonces it has seen.
func OpenInvitation(key, token []byte, now time.Time) (Invitation, error) {
	var in Invitation
	if len(token) != InvitationSize || string(token[:3]) != inviteMagic || token[3] != inviteFormat {
		return in, ErrBadInvitation
	}
	body, tag := token[:InvitationSize-32], token[InvitationSize-32:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), tag) {
		return in, ErrBadInvitation
	}
	copy(in.Issuer[:], body[4:36])
	copy(in.Nonce[:], body[36:52])
	secs := binary.BigEndian.Uint64(body[52:60])
	if secs > 1<<62 {
		return Invitation{}, fmt.Errorf("%w: expiry out of range", ErrBadInvitation)
	}
	in.NotAfter = time.Unix(int64(secs), 0).UTC()
	if !now.Before(in.NotAfter) {
		return Invitation{}, ErrExpiredInvitation
	}
	return in, nil
}
