package mls

import (
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
)

// This file protects and unprotects messages of the current epoch
// (RFC 9420 §6): signatures, PublicMessage membership tags and
// PrivateMessage encryption with the secret tree.

// newContent returns a FramedContent from us for the current epoch.
func (g *Group) newContent(aad []byte) format.FramedContent {
	return format.FramedContent{
		GroupID: g.ctx.GroupID, Epoch: g.ctx.Epoch,
		Sender:            format.Sender{Type: format.SenderMember, LeafIndex: uint32(g.priv.Leaf)},
		AuthenticatedData: append([]byte{}, aad...),
	}
}

// sign signs ac's content with our key over the current GroupContext
// (RFC 9420 §6.1).
func (g *Group) sign(ac *format.AuthenticatedContent) error {
	tbs, err := ac.TBS(&g.ctx)
	if err != nil {
		return fmt.Errorf("mls: encoding content: %w", err)
	}
	if ac.Auth.Signature, err = g.suite.SignWithLabel(g.sig, "FramedContentTBS", tbs); err != nil {
		return fmt.Errorf("mls: signing content: %w", err)
	}
	return nil
}

// verifySignature checks ac's signature with the sender's key
// (RFC 9420 §6.1).
func (g *Group) verifySignature(ac *format.AuthenticatedContent, key []byte) error {
	var ctx *format.GroupContext
	switch ac.Content.Sender.Type {
	case format.SenderMember, format.SenderNewMemberCommit:
		ctx = &g.ctx
	}
	tbs, err := ac.TBS(ctx)
	if err != nil {
		return invalidErr("6.1", "unencodable content", ErrMalformed)
	}
	if err := g.suite.VerifyWithLabel(key, "FramedContentTBS", tbs, ac.Auth.Signature); err != nil {
		return invalidErr("6.1", "message signature", ErrBadSignature)
	}
	return nil
}

// sealPublic wraps signed content in a PublicMessage, with a membership
// tag for member senders (RFC 9420 §6.2).
func (g *Group) sealPublic(ac *format.AuthenticatedContent) ([]byte, error) {
	pm := &format.PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.Type == format.SenderMember {
		tbm, err := ac.TBM(&g.ctx)
		if err != nil {
			return nil, fmt.Errorf("mls: encoding content: %w", err)
		}
		pm.MembershipTag = g.suite.MAC(g.epoch.MembershipKey, tbm)
	}
	b, err := codec.Marshal(&format.MLSMessage{Version: format.MLS10, WireFormat: format.WirePublicMessage, PublicMessage: pm})
	if err != nil {
		return nil, fmt.Errorf("mls: encoding message: %w", err)
	}
	return b, nil
}

func ratchetFor(ct format.ContentType) schedule.RatchetType {
	if ct == format.ContentApplication {
		return schedule.Application
	}
	return schedule.Handshake
}

// sealPrivate encrypts signed content into a PrivateMessage (RFC 9420 §6.3).
func (g *Group) sealPrivate(ac *format.AuthenticatedContent) ([]byte, error) {
	c := &ac.Content
	pmc := &format.PrivateMessageContent{ContentType: c.ContentType, Application: c.Application, Proposal: c.Proposal, Commit: c.Commit, Auth: ac.Auth}
	body, err := codec.Marshal(pmc)
	if err != nil {
		return nil, fmt.Errorf("mls: encoding message: %w", err)
	}
	// RFC 9420 §6.3: pad the content to a multiple of the block size.
	if blk := g.cfg.paddingBlock(); blk > 0 && len(body)%blk != 0 {
		pmc.Padding = blk - len(body)%blk
		if body, err = codec.Marshal(pmc); err != nil {
			return nil, fmt.Errorf("mls: encoding message: %w", err)
		}
	}
	pm := &format.PrivateMessage{GroupID: c.GroupID, Epoch: c.Epoch, ContentType: c.ContentType, AuthenticatedData: c.AuthenticatedData}
	gen, kn, err := g.secrets.NextKey(uint32(g.priv.Leaf), ratchetFor(c.ContentType))
	if err != nil {
		return nil, err
	}
	guardBytes, err := g.cfg.randomBytes(4)
	if err != nil {
		return nil, err
	}
	var guard [4]byte
	copy(guard[:], guardBytes)
	aad, err := pm.ContentAAD()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding message: %w", err)
	}
	if pm.Ciphertext, err = g.suite.Seal(kn.Key, schedule.ApplyReuseGuard(kn.Nonce, guard), aad, body); err != nil {
		return nil, err
	}
	sd := codec.MustMarshal(&format.SenderData{LeafIndex: uint32(g.priv.Leaf), Generation: gen, ReuseGuard: guard})
	sdAAD, err := pm.SenderDataAAD()
	if err != nil {
		return nil, fmt.Errorf("mls: encoding message: %w", err)
	}
	key, nonce := schedule.SenderDataKeyNonce(g.suite, g.epoch.SenderDataSecret, pm.Ciphertext)
	if pm.EncryptedSenderData, err = g.suite.Seal(key, nonce, sdAAD, sd); err != nil {
		return nil, err
	}
	b, err := codec.Marshal(&format.MLSMessage{Version: format.MLS10, WireFormat: format.WirePrivateMessage, PrivateMessage: pm})
	if err != nil {
		return nil, fmt.Errorf("mls: encoding message: %w", err)
	}
	return b, nil
}

// unprotected is a message opened for the current epoch. consume, if set,
// burns the message key once processing succeeded (RFC 9420 §9.2).
type unprotected struct {
	ac      *format.AuthenticatedContent
	consume func()
}

// openPublic checks a PublicMessage's group, epoch and membership tag
// (RFC 9420 §6.2). The signature is checked by the caller, who knows the
// sender's key.
func (g *Group) openPublic(pm *format.PublicMessage) (*unprotected, error) {
	ac := pm.Authenticated()
	if err := g.checkGroupEpoch(pm.Content.GroupID, pm.Content.Epoch); err != nil {
		return nil, err
	}
	switch pm.Content.Sender.Type {
	case format.SenderMember:
		// RFC 9420 §6.2: verify the membership tag of member senders.
		tbm, err := ac.TBM(&g.ctx)
		if err != nil {
			return nil, invalidErr("6.2", "unencodable content", ErrMalformed)
		}
		if err := g.suite.VerifyMAC(g.epoch.MembershipKey, tbm, pm.MembershipTag); err != nil {
			return nil, invalidErr("6.2", "membership tag", ErrBadMembershipTag)
		}
	}
	// RFC 9420 §6.2: application data MUST NOT be sent as PublicMessage.
	if pm.Content.ContentType == format.ContentApplication {
		return nil, invalid("6.2", "application data in a PublicMessage")
	}
	return &unprotected{ac: ac}, nil
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

// openPrivate decrypts a PrivateMessage of the current epoch
// (RFC 9420 §6.3).
func (g *Group) openPrivate(pm *format.PrivateMessage) (*unprotected, error) {
	if err := g.checkGroupEpoch(pm.GroupID, pm.Epoch); err != nil {
		return nil, err
	}
	// RFC 9420 §6.3.2: decrypt the sender data.
	sdAAD, err := pm.SenderDataAAD()
	if err != nil {
		return nil, invalidErr("6.3.2", "unencodable sender data AAD", ErrMalformed)
	}
	key, nonce := schedule.SenderDataKeyNonce(g.suite, g.epoch.SenderDataSecret, pm.Ciphertext)
	sdBytes, err := g.suite.Open(key, nonce, sdAAD, pm.EncryptedSenderData)
	if err != nil {
		return nil, invalidErr("6.3.2", "sender data does not decrypt", ErrDecrypt)
	}
	var sd format.SenderData
	if err := codec.Unmarshal(sdBytes, &sd); err != nil {
		return nil, invalidErr("6.3.2", "malformed sender data", ErrMalformed)
	}
	// RFC 9420 §6.3.2: the sender's leaf must be a member.
	if g.leafNode(sd.LeafIndex) == nil {
		return nil, invalid("6.3.2", "sender data names a non-member leaf")
	}
	rt := ratchetFor(pm.ContentType)
	kn, err := g.secrets.Key(sd.LeafIndex, rt, sd.Generation)
	if err != nil {
		if isKeyUsed(err) {
			return nil, invalidErr("9.2", "message key already used", ErrReplay)
		}
		return nil, invalidErr("9.2", "no key for the message generation", err)
	}
	aad, err := pm.ContentAAD()
	if err != nil {
		return nil, invalidErr("6.3.1", "unencodable content AAD", ErrMalformed)
	}
	body, err := g.suite.Open(kn.Key, schedule.ApplyReuseGuard(kn.Nonce, sd.ReuseGuard), aad, pm.Ciphertext)
	if err != nil {
		return nil, invalidErr("6.3.1", "content does not decrypt", ErrDecrypt)
	}
	pmc, err := format.ParsePrivateMessageContent(body, pm.ContentType)
	if err != nil {
		return nil, invalidErr("6.3.1", "malformed content", ErrMalformed)
	}
	ac := &format.AuthenticatedContent{
		WireFormat: format.WirePrivateMessage,
		Content: format.FramedContent{
			GroupID: pm.GroupID, Epoch: pm.Epoch,
			Sender:            format.Sender{Type: format.SenderMember, LeafIndex: sd.LeafIndex},
			AuthenticatedData: pm.AuthenticatedData, ContentType: pm.ContentType,
			Application: pmc.Application, Proposal: pmc.Proposal, Commit: pmc.Commit,
		},
		Auth: pmc.Auth,
	}
	leaf, gen := sd.LeafIndex, sd.Generation
	return &unprotected{ac: ac, consume: func() { g.secrets.Consume(leaf, rt, gen) }}, nil
}
