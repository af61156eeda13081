package server

import (
	"crypto/rand"
	"errors"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/wire"
)

// invitationValidity is how long an invitation can wait to be redeemed.
const invitationValidity = 30 * 24 * time.Hour

// dispatchDistribution answers the distribution requests
// (docs/spec/wire.md, "Distribution"); ok is false for any other message.
// The session's device is registered.
func (ss *session) dispatchDistribution(m wire.Message) (resp wire.Message, ok bool) {
	switch m.(type) {
	case *wire.RequestInvitation, *wire.RedeemInvitation, *wire.ReportBlocked:
	default:
		return nil, false
	}
	if ss.srv.book == nil {
		return wire.Errorf(wire.CodeNotFound, "this server publishes no endpoint book"), true
	}
	acct, registered, e := ss.accountAge()
	if e != nil {
		return e, true
	}
	dd, now := ss.srv.book.dist, ss.srv.book.now()
	switch m := m.(type) {
	case *wire.RequestInvitation:
		var nonce [16]byte
		rand.Read(nonce[:])
		tok, err := dd.issue(acct, registered, nonce, now, invitationValidity)
		if err != nil {
			return ss.distributionError("issuing an invitation", err), true
		}
		return &wire.Invitation{Token: tok}, true
	case *wire.RedeemInvitation:
		if err := dd.redeem(acct, m.Token, now); err != nil {
			return ss.distributionError("redeeming an invitation", err), true
		}
		ss.srv.log.Info("invitation redeemed")
		return &wire.OK{}, true
	case *wire.ReportBlocked:
		judged, err := dd.report(acct, registered, m.IDs, now)
		if err != nil {
			return ss.distributionError("a blocked-relay report", err), true
		}
		if len(judged) > 0 {
			ss.srv.log.Info("relays judged blocked by independent reports; revoked and replaced in their holders' books", "relays", judged)
		}
		return ss.bookOf(acct, registered), true
	}
	return nil, false
}

// distributionError turns a distributor error into the wire error that
// says what to do next.
func (ss *session) distributionError(doing string, err error) wire.Message {
	switch {
	case errors.Is(err, errOnProbation):
		return wire.Errorf(wire.CodeUnauthorized, "this account is on probation: it needs an invitation from a trusted user (and some days of age) before it can invite or report relays")
	case errors.Is(err, errInvitesSpent):
		return &wire.Error{Code: wire.CodeRateLimited, RetryAfter: uint32(ss.srv.book.cfg.Period / time.Second), Message: "this account's invitations for the period are spent; try again later"}
	case errors.Is(err, errHasInviter):
		return wire.Errorf(wire.CodeConflict, "this account was invited already")
	case errors.Is(err, errTokenUsed), errors.Is(err, errInviteeIssuer), errors.Is(err, reach.ErrBadInvitation), errors.Is(err, reach.ErrExpiredInvitation):
		return wire.Errorf(wire.CodeBadRequest, "%v; ask the person who invited you for a new invitation", err)
	}
	ss.srv.log.Error("distribution failed", "doing", doing, "err", err)
	return wire.Errorf(wire.CodeInternal, "the server could not save its distribution ledger; retry later")
}

// MintInvitation mints an invitation in the operator's name, valid for
// valid (for `samizdat server invite` and tests); nil without a book.
func (s *Server) MintInvitation(valid time.Duration) []byte {
	if s.book == nil {
		return nil
	}
	var in reach.Invitation
	rand.Read(in.Nonce[:])
	in.NotAfter = s.book.now().Add(valid)
	return reach.MintInvitation(s.book.dist.key, in)
}
