// Package framing owns MLS message protection (RFC 9420 §6): signing
// FramedContent into AuthenticatedContent, wrapping it into a PublicMessage
// (signature and membership tag) or a PrivateMessage (AEAD under the secret
// tree's ratchet keys, with encrypted sender data), and the reverse checks.
//
// It knows one epoch's secrets and nothing about the group's membership:
// checking the group ID and epoch of an incoming message, finding the
// sender's signature key, checking that a member leaf is occupied and
// deciding which wire format a message may use are the caller's. The one
// policy this package enforces is that application data travels only as a
// PrivateMessage (RFC 9420 §6: application messages are always encrypted).
package framing

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/schedule"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

// Errors returned by this package; each is wrapped with context and can be
// tested with errors.Is.
var (
	ErrMembershipTag = errors.New("mls: bad membership tag")
	ErrSignature     = errors.New("mls: bad message signature")
	ErrSenderData    = errors.New("mls: sender data does not decrypt")
	ErrDecrypt       = errors.New("mls: message content does not decrypt")
	// ErrGeneration wraps the secret tree's refusal of a generation: a
	// replay or expired key (schedule.ErrKeyUsed) or a jump too far ahead
	// (schedule.ErrTooFarAhead). Both errors match with errors.Is.
	ErrGeneration = errors.New("mls: unusable key generation")
	ErrPadding    = errors.New("mls: non-zero padding")
	ErrContent    = errors.New("mls: malformed message content")
	// ErrContentType is returned for a content type that the wire format
	// cannot carry (application data in a PublicMessage) or that is unknown.
	ErrContentType = errors.New("mls: content type not allowed")
	// ErrWireFormat is returned when an AuthenticatedContent is wrapped in
	// a wire format other than the one it was signed for.
	ErrWireFormat = errors.New("mls: wire format mismatch")
	// ErrSender is returned for a sender type the wire format cannot carry.
	ErrSender = errors.New("mls: sender not allowed")
)

// SignatureKeyFunc returns the signature public key that must have signed
// content: the leaf's key for a member, the external_senders entry for an
// external sender, the key of the new leaf for a new member. It is called
// only after the message's MACs or AEAD checked out.
type SignatureKeyFunc func(content *format.FramedContent) ([]byte, error)

// Epoch is what protecting and unprotecting the messages of one epoch
// needs. The caller keeps it in step with the group: Context is the
// current GroupContext and Secrets the epoch's secret tree, which this
// package advances and whose used keys it deletes. An Epoch is not safe
// for concurrent use (the secret tree is not).
type Epoch struct {
	Suite            *suite.Suite
	Context          *format.GroupContext
	MembershipKey    []byte
	SenderDataSecret []byte
	Secrets          *schedule.SecretTree
	// PaddingBlock pads a PrivateMessage's content with zero bytes to a
	// multiple of this many bytes (0 or 1: no padding), to hide message
	// lengths (RFC 9420 §6.3.1).
	PaddingBlock int
	// Rand supplies reuse guards; nil means crypto/rand.
	Rand io.Reader
}

func (e *Epoch) rand() io.Reader {
	if e.Rand != nil {
		return e.Rand
	}
	return rand.Reader
}

// contextFor returns the GroupContext that a sender's signature binds
// (RFC 9420 §6.1: members and new members committing sign over it).
func (e *Epoch) contextFor(s format.Sender) *format.GroupContext {
	switch s.Type {
	case format.SenderMember, format.SenderNewMemberCommit:
		return e.Context
	}
	return nil
}

// Sign makes the AuthenticatedContent of content for wire format wf,
// signing FramedContentTBS with the sender's signature private key
// (RFC 9420 §6.1). For a commit the caller then sets Auth.ConfirmationTag,
// which depends on the signature through the transcript hash (§8.2),
// before calling ProtectPublic or ProtectPrivate.
func (e *Epoch) Sign(wf format.WireFormat, content *format.FramedContent, priv []byte) (*format.AuthenticatedContent, error) {
	// RFC 9420 §6: only the two framing wire formats carry content.
	if wf != format.WirePublicMessage && wf != format.WirePrivateMessage {
		return nil, fmt.Errorf("mls: signing content: %w: %d", ErrWireFormat, wf)
	}
	ac := &format.AuthenticatedContent{WireFormat: wf, Content: *content}
	tbs, err := ac.TBS(e.contextFor(content.Sender))
	if err != nil {
		return nil, fmt.Errorf("mls: signing content: %w", err)
	}
	ac.Auth.Signature, err = e.Suite.SignWithLabel(priv, "FramedContentTBS", tbs)
	if err != nil {
		return nil, fmt.Errorf("mls: signing content: %w", err)
	}
	return ac, nil
}

// VerifySignature checks ac's signature with the sender's public key
// (RFC 9420 §6.1).
func (e *Epoch) VerifySignature(ac *format.AuthenticatedContent, pub []byte) error {
	tbs, err := ac.TBS(e.contextFor(ac.Content.Sender))
	if err != nil {
		return fmt.Errorf("mls: verifying message signature: %w: %w", ErrContent, err)
	}
	if err := e.Suite.VerifyWithLabel(pub, "FramedContentTBS", tbs, ac.Auth.Signature); err != nil {
		return fmt.Errorf("mls: verifying message signature: %w", ErrSignature)
	}
	return nil
}

func (e *Epoch) verifyWith(ac *format.AuthenticatedContent, keyOf SignatureKeyFunc) error {
	pub, err := keyOf(&ac.Content)
	if err != nil {
		return fmt.Errorf("mls: finding the sender's signature key: %w", err)
	}
	return e.VerifySignature(ac, pub)
}

// checkAuth enforces the shape of the authentication data (RFC 9420 §6.1:
// confirmation_tag is present iff the content is a commit).
func checkAuth(ac *format.AuthenticatedContent) error {
	switch ac.Content.ContentType {
	case format.ContentCommit:
		if len(ac.Auth.ConfirmationTag) == 0 {
			return fmt.Errorf("%w: commit without confirmation tag", ErrContent)
		}
	case format.ContentApplication, format.ContentProposal:
		if ac.Auth.ConfirmationTag != nil {
			return fmt.Errorf("%w: confirmation tag on a non-commit", ErrContent)
		}
	default:
		return fmt.Errorf("%w: unknown content type %d", ErrContentType, ac.Content.ContentType)
	}
	return nil
}

// ProtectPublic wraps ac, signed for the public_message wire format, into a
// PublicMessage, adding the membership tag when the sender is a member
// (RFC 9420 §6.2).
func (e *Epoch) ProtectPublic(ac *format.AuthenticatedContent) (*format.PublicMessage, error) {
	if ac.WireFormat != format.WirePublicMessage {
		return nil, fmt.Errorf("mls: making PublicMessage: %w", ErrWireFormat)
	}
	// RFC 9420 §6: application data is only sent as PrivateMessage.
	if ac.Content.ContentType == format.ContentApplication {
		return nil, fmt.Errorf("mls: making PublicMessage: %w: application data", ErrContentType)
	}
	if err := checkAuth(ac); err != nil {
		return nil, fmt.Errorf("mls: making PublicMessage: %w", err)
	}
	pm := &format.PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.Type == format.SenderMember {
		// RFC 9420 §6.2: membership_tag = MAC(membership_key,
		// AuthenticatedContentTBM).
		tbm, err := ac.TBM(e.Context)
		if err != nil {
			return nil, fmt.Errorf("mls: making PublicMessage: %w", err)
		}
		pm.MembershipTag = e.Suite.MAC(e.MembershipKey, tbm)
	}
	return pm, nil
}

// UnprotectPublic checks a PublicMessage of the current epoch and returns
// its AuthenticatedContent: the membership tag for a member sender
// (RFC 9420 §6.2) and the signature with the key keyOf returns (§6.1). The
// caller has checked group ID and epoch.
func (e *Epoch) UnprotectPublic(pm *format.PublicMessage, keyOf SignatureKeyFunc) (*format.AuthenticatedContent, error) {
	ac := pm.Authenticated()
	// RFC 9420 §6: application data is only sent as PrivateMessage.
	if ac.Content.ContentType == format.ContentApplication {
		return nil, fmt.Errorf("mls: reading PublicMessage: %w: application data", ErrContentType)
	}
	if err := checkAuth(ac); err != nil {
		return nil, fmt.Errorf("mls: reading PublicMessage: %w", err)
	}
	if ac.Content.Sender.Type == format.SenderMember {
		// RFC 9420 §6.2: the recipient MUST verify the membership tag.
		tbm, err := ac.TBM(e.Context)
		if err != nil {
			return nil, fmt.Errorf("mls: reading PublicMessage: %w: %w", ErrContent, err)
		}
		if !suite.Equal(e.Suite.MAC(e.MembershipKey, tbm), pm.MembershipTag) {
			return nil, fmt.Errorf("mls: reading PublicMessage: %w", ErrMembershipTag)
		}
	}
	if err := e.verifyWith(ac, keyOf); err != nil {
		return nil, fmt.Errorf("mls: reading PublicMessage: %w", err)
	}
	return ac, nil
}
