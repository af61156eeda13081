package mls

import (
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/framing"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
)

// This file connects the group to mls/internal/framing, which owns message
// protection (RFC 9420 §6). The group decides which epoch's secrets a
// message uses, checks the group id and epoch, finds the sender's
// signature key, and maps framing's errors to *ValidationError.

// framingEpoch is the protection state of the current epoch over the
// secret tree st (normally g.secrets). Before the first epoch (an external
// joiner's view of the group) only signing and PublicMessage framing of a
// new_member_commit work.
func (g *Group) framingEpoch(st *schedule.SecretTree) *framing.Epoch {
	e := &framing.Epoch{Suite: g.suite, Context: &g.ctx, Secrets: st, PaddingBlock: g.cfg.paddingBlock(), Rand: g.cfg.rand()}
	if g.epoch != nil {
		e.MembershipKey, e.SenderDataSecret = g.epoch.MembershipKey, g.epoch.SenderDataSecret
	}
	return e
}

// signContent frames a message from our leaf for the current epoch, lets
// fill set its body, and signs it (RFC 9420 §6.1). public selects the
// PublicMessage wire format.
func (g *Group) signContent(public bool, aad []byte, fill func(*format.FramedContent)) (*format.AuthenticatedContent, error) {
	fc := &format.FramedContent{
		GroupID: g.ctx.GroupID, Epoch: g.ctx.Epoch,
		Sender:            format.Sender{Type: format.SenderMember, LeafIndex: uint32(g.priv.Leaf)},
		AuthenticatedData: append([]byte{}, aad...),
	}
	fill(fc)
	wf := format.WirePrivateMessage
	if public {
		wf = format.WirePublicMessage
	}
	return g.framingEpoch(g.secrets).Sign(wf, fc, g.sig)
}

// protect wraps signed content into an encoded MLSMessage of the wire
// format it was signed for (RFC 9420 §6.2, §6.3).
func (g *Group) protect(ac *format.AuthenticatedContent) ([]byte, error) {
	e := g.framingEpoch(g.secrets)
	m := &format.MLSMessage{Version: format.MLS10, WireFormat: ac.WireFormat}
	var err error
	if ac.WireFormat == format.WirePublicMessage {
		m.PublicMessage, err = e.ProtectPublic(ac)
	} else {
		m.PrivateMessage, err = e.ProtectPrivate(ac)
	}
	if err != nil {
		return nil, err
	}
	b, err := codec.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("mls: encoding message: %w", err)
	}
	return b, nil
}

// unprotect authenticates a PublicMessage or PrivateMessage and returns its
// content. The secret tree changes only once the content has decrypted AND
// its signature verified (framing.UnprotectPrivate, docs/spec/mls-policy.md
// "Key consumption order"), so a forged or tampered message burns no key.
// For handshake PrivateMessages it decrypts with a copy of the secret tree
// that it installs in g; rollback reinstates the previous tree if the
// proposal or commit is then refused, so that a retried one still
// decrypts. An authenticated application message burns its key (RFC 9420
// §9.2) and apply cannot refuse it afterwards.
func (g *Group) unprotect(m *format.MLSMessage) (ac *format.AuthenticatedContent, rollback func(), err error) {
	rollback = func() {}
	switch m.WireFormat {
	case format.WirePublicMessage:
		pm := m.PublicMessage
		if err := g.checkGroupEpoch(pm.Content.GroupID, pm.Content.Epoch); err != nil {
			return nil, nil, err
		}
		ac, err = g.framingEpoch(g.secrets).UnprotectPublic(pm, g.senderKey)
		return ac, rollback, framingErr(err)
	case format.WirePrivateMessage:
		pm := m.PrivateMessage
		if err := g.checkGroupEpoch(pm.GroupID, pm.Epoch); err != nil {
			// RFC 9420 §15.3: a late application message of a kept
			// past epoch.
			if past := g.findPastEpoch(pm); past != nil {
				ac, err := past.unprotect(g, pm)
				return ac, rollback, err
			}
			return nil, nil, err
		}
		st := g.secrets
		if pm.ContentType != format.ContentApplication {
			st = g.secrets.Clone()
		}
		if ac, err = g.framingEpoch(st).UnprotectPrivate(pm, g.senderKey); err != nil {
			return nil, nil, framingErr(err)
		}
		saved := g.secrets
		g.secrets = st
		return ac, func() { g.secrets = saved }, nil
	}
	return nil, nil, invalidErr("6", "not a PublicMessage or PrivateMessage", ErrMalformed)
}

// checkGroupEpoch implements RFC 9420 §6: the group id is ours and the
// epoch is the current one.
func (g *Group) checkGroupEpoch(groupID []byte, epoch uint64) error {
	if string(groupID) != string(g.ctx.GroupID) {
		return invalidErr("6", "group id", ErrWrongGroup)
	}
	if epoch != g.ctx.Epoch {
		return invalidErr("6", fmt.Sprintf("epoch %d, group is at %d", epoch, g.ctx.Epoch), ErrWrongEpoch)
	}
	return nil
}

// framingErr maps an error of mls/internal/framing to a *ValidationError
// naming the RFC 9420 check. A *ValidationError from our own sender-key
// lookup passes through unchanged.
func framingErr(err error) error {
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	for _, m := range framingErrors {
		if !errors.Is(err, m.cause) {
			continue
		}
		if m.wrapCause {
			return invalidErr(m.section, m.reason, err)
		}
		return invalidErr(m.section, m.reason, m.is)
	}
	return fmt.Errorf("mls: processing message: %w", err)
}

// framingErrors map the errors of mls/internal/framing (and the key
// schedule's replay check), first match first, to the RFC 9420 section
// the message fails and the error of this package it wraps (nil: none;
// wrapCause: the framing error itself).
var framingErrors = []struct {
	cause           error
	section, reason string
	is              error
	wrapCause       bool
}{
	{cause: framing.ErrMembershipTag, section: "6.2", reason: "membership tag", is: ErrBadMembershipTag},
	{cause: framing.ErrSignature, section: "6.1", reason: "message signature", is: ErrBadSignature},
	{cause: schedule.ErrKeyUsed, section: "9.2", reason: "message key already used", is: ErrReplay},
	{cause: framing.ErrGeneration, section: "9.2", reason: "no key for the message generation", wrapCause: true},
	{cause: framing.ErrSenderData, section: "6.3.2", reason: "sender data does not decrypt", is: ErrDecrypt},
	{cause: framing.ErrDecrypt, section: "6.3.1", reason: "content does not decrypt", is: ErrDecrypt},
	{cause: framing.ErrPadding, section: "6.3.1", reason: "non-zero padding", is: ErrMalformed},
	{cause: framing.ErrContent, section: "6.1", reason: "malformed content", is: ErrMalformed},
	{cause: framing.ErrContentType, section: "6.2", reason: "content type not allowed in this wire format"},
	{cause: framing.ErrSender, section: "6", reason: "sender or wire format not allowed"},
	{cause: framing.ErrWireFormat, section: "6", reason: "sender or wire format not allowed"},
}
