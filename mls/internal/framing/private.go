package framing

import (
	"fmt"
	"io"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
)

// ratchetFor selects the ratchet of a content type (RFC 9420 §9.1:
// application messages use the application ratchet, proposals and commits
// the handshake ratchet).
func ratchetFor(ct format.ContentType) schedule.RatchetType {
	if ct == format.ContentApplication {
		return schedule.Application
	}
	return schedule.Handshake
}

// paddingFor returns how many zero bytes bring n up to a multiple of block.
func paddingFor(n, block int) int {
	if block <= 1 {
		return 0
	}
	return (block - n%block) % block
}

// ProtectPrivate encrypts ac, signed for the private_message wire format by
// a member, into a PrivateMessage (RFC 9420 §6.3): the content is encrypted
// with the next key of the sender's ratchet and a fresh reuse guard, and
// the sender data with the key derived from the ciphertext sample.
func (e *Epoch) ProtectPrivate(ac *format.AuthenticatedContent) (*format.PrivateMessage, error) {
	if ac.WireFormat != format.WirePrivateMessage {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", ErrWireFormat)
	}
	// RFC 9420 §6.3.2: the sender data names a leaf, so only members send
	// PrivateMessages.
	if ac.Content.Sender.Type != format.SenderMember {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w: sender type %d", ErrSender, ac.Content.Sender.Type)
	}
	if err := checkAuth(ac); err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", err)
	}
	c := &ac.Content
	content := &format.PrivateMessageContent{
		ContentType: c.ContentType, Application: c.Application, Proposal: c.Proposal, Commit: c.Commit, Auth: ac.Auth,
	}
	plain, err := codec.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", err)
	}
	// RFC 9420 §6.3.1: padding is zero bytes appended to the content.
	plain = append(plain, make([]byte, paddingFor(len(plain), e.PaddingBlock))...)

	pm := &format.PrivateMessage{
		GroupID: c.GroupID, Epoch: c.Epoch, ContentType: c.ContentType, AuthenticatedData: c.AuthenticatedData,
	}
	sd := format.SenderData{LeafIndex: c.Sender.LeafIndex}
	// RFC 9420 §6.3.1: a fresh random reuse_guard per message.
	if _, err := io.ReadFull(e.rand(), sd.ReuseGuard[:]); err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: reading randomness: %w", err)
	}
	gen, kn, err := e.Secrets.NextKey(c.Sender.LeafIndex, ratchetFor(c.ContentType))
	if err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", err)
	}
	sd.Generation = gen
	aad, err := pm.ContentAAD()
	if err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", err)
	}
	pm.Ciphertext, err = e.Suite.Seal(kn.Key, schedule.ApplyReuseGuard(kn.Nonce, sd.ReuseGuard), aad, plain)
	clear(kn.Key)
	clear(kn.Nonce)
	if err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", err)
	}
	// RFC 9420 §6.3.2: sender data key and nonce from the ciphertext sample.
	sdKey, sdNonce := schedule.SenderDataKeyNonce(e.Suite, e.SenderDataSecret, pm.Ciphertext)
	sdAAD, err := pm.SenderDataAAD()
	if err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", err)
	}
	sdPlain, err := codec.Marshal(&sd)
	if err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", err)
	}
	if pm.EncryptedSenderData, err = e.Suite.Seal(sdKey, sdNonce, sdAAD, sdPlain); err != nil {
		return nil, fmt.Errorf("mls: making PrivateMessage: %w", err)
	}
	return pm, nil
}

// UnprotectPrivate decrypts a PrivateMessage of the current epoch and
// returns its AuthenticatedContent after checking the signature with the
// key keyOf returns (RFC 9420 §6.3, §6.1). The secret tree is only read
// until the content has decrypted and the signature verified; then the
// key of the message's generation is deleted and the ratchet advanced, so
// a replayed message fails with ErrGeneration (RFC 9420 §9.2) and a forged
// or tampered one burns no key. The caller has checked group ID
// and epoch, and must check that the sender's leaf is occupied (keyOf can
// do that).
func (e *Epoch) UnprotectPrivate(pm *format.PrivateMessage, keyOf SignatureKeyFunc) (*format.AuthenticatedContent, error) {
	switch pm.ContentType {
	case format.ContentApplication, format.ContentProposal, format.ContentCommit:
	default:
		// RFC 9420 §6.3.1: the content type selects the content's layout.
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w: %d", ErrContentType, pm.ContentType)
	}
	sd, err := e.openSenderData(pm)
	if err != nil {
		return nil, err
	}
	rt := ratchetFor(pm.ContentType)
	kn, err := e.Secrets.Key(sd.LeafIndex, rt, sd.Generation)
	if err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w: %w", ErrGeneration, err)
	}
	aad, err := pm.ContentAAD()
	if err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w: %w", ErrContent, err)
	}
	// RFC 9420 §6.3.1: the nonce is the ratchet nonce XOR the reuse guard.
	plain, err := e.Suite.Open(kn.Key, schedule.ApplyReuseGuard(kn.Nonce, sd.ReuseGuard), aad, pm.Ciphertext)
	clear(kn.Key)
	clear(kn.Nonce)
	if err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w", ErrDecrypt)
	}

	ac := &format.AuthenticatedContent{
		WireFormat: format.WirePrivateMessage,
		Content: format.FramedContent{
			GroupID: pm.GroupID, Epoch: pm.Epoch,
			Sender:            format.Sender{Type: format.SenderMember, LeafIndex: sd.LeafIndex},
			AuthenticatedData: pm.AuthenticatedData, ContentType: pm.ContentType,
		},
	}
	if err := parseContent(plain, ac); err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w", err)
	}
	if err := checkAuth(ac); err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w", err)
	}
	if err := e.verifyWith(ac, keyOf); err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w", err)
	}
	// RFC 9420 §9.2: delete the key once it has served, and only now that
	// the message decrypted and its signature verified: an invalid message
	// changes no state (docs/spec/mls-policy.md, "Key consumption order").
	if err := e.Secrets.Consume(sd.LeafIndex, rt, sd.Generation); err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w: %w", ErrGeneration, err)
	}
	return ac, nil
}

// openSenderData decrypts and decodes a PrivateMessage's sender data
// (RFC 9420 §6.3.2).
func (e *Epoch) openSenderData(pm *format.PrivateMessage) (*format.SenderData, error) {
	key, nonce := schedule.SenderDataKeyNonce(e.Suite, e.SenderDataSecret, pm.Ciphertext)
	aad, err := pm.SenderDataAAD()
	if err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w: %w", ErrContent, err)
	}
	plain, err := e.Suite.Open(key, nonce, aad, pm.EncryptedSenderData)
	if err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w", ErrSenderData)
	}
	var sd format.SenderData
	if err := codec.Unmarshal(plain, &sd); err != nil {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w: %w", ErrSenderData, err)
	}
	// RFC 9420 §6.3.2: the leaf index must be a leaf of the tree. Whether
	// the leaf is occupied is the caller's check.
	if sd.LeafIndex >= e.Secrets.LeafCount() {
		return nil, fmt.Errorf("mls: reading PrivateMessage: %w: leaf %d outside the tree", ErrSenderData, sd.LeafIndex)
	}
	return &sd, nil
}

// parseContent decodes PrivateMessageContent (RFC 9420 §6.3.1) into ac,
// whose content type is set, and checks that the padding is all zeros.
func parseContent(plain []byte, ac *format.AuthenticatedContent) error {
	r := codec.NewReader(plain)
	c := &ac.Content
	switch c.ContentType {
	case format.ContentApplication:
		c.Application = r.VarBytes()
	case format.ContentProposal:
		c.Proposal = new(format.Proposal)
		c.Proposal.UnmarshalMLS(r)
	case format.ContentCommit:
		c.Commit = new(format.Commit)
		c.Commit.UnmarshalMLS(r)
	}
	ac.Auth.UnmarshalFor(r, c.ContentType)
	if err := r.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrContent, err)
	}
	// RFC 9420 §6.3.1: all padding bytes MUST be zero.
	var acc byte
	for _, b := range r.Remaining() {
		acc |= b
	}
	if acc != 0 {
		return ErrPadding
	}
	return nil
}
