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
	switch {
	case errors.Is(err, framing.ErrMembershipTag):
		return invalidErr("6.2", "membership tag", ErrBadMembershipTag)
	case errors.Is(err, framing.ErrSignature):
		return invalidErr("6.1", "message signature", ErrBadSignature)
	case errors.Is(err, schedule.ErrKeyUsed):
		return invalidErr("9.2", "message key already used", ErrReplay)
	case errors.Is(err, framing.ErrGeneration):
		return invalidErr("9.2", "no key for the message generation", err)
	case errors.Is(err, framing.ErrSenderData):
		return invalidErr("6.3.2", "sender data does not decrypt", ErrDecrypt)
	case errors.Is(err, framing.ErrDecrypt):
		return invalidErr("6.3.1", "content does not decrypt", ErrDecrypt)
	case errors.Is(err, framing.ErrPadding):
		return invalidErr("6.3.1", "non-zero padding", ErrMalformed)
	case errors.Is(err, framing.ErrContent):
		return invalidErr("6.1", "malformed content", ErrMalformed)
	case errors.Is(err, framing.ErrContentType):
		return invalid("6.2", "content type not allowed in this wire format")
	case errors.Is(err, framing.ErrSender), errors.Is(err, framing.ErrWireFormat):
		return invalid("6", "sender or wire format not allowed")
	}
	return fmt.Errorf("mls: processing message: %w", err)
}
