package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// GroupContext is the shared state of an epoch (RFC 9420 §8.1).
type GroupContext struct {
	Version                 ProtocolVersion
	CipherSuite             CipherSuite
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              []Extension
}

func (g *GroupContext) code(c coder) {
	c.u16((*uint16)(&g.Version))
	c.u16((*uint16)(&g.CipherSuite))
	c.bytes(&g.GroupID)
	c.u64(&g.Epoch)
	c.bytes(&g.TreeHash)
	c.bytes(&g.ConfirmedTranscriptHash)
	codeExtensions(c, &g.Extensions)
}

// MarshalMLS implements codec.Marshaler.
func (g *GroupContext) MarshalMLS(w *codec.Writer) { g.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupContext) UnmarshalMLS(r *codec.Reader) { g.code(coder{r: r}) }

// Sender identifies the sender of a message (RFC 9420 §6).
type Sender struct {
	Type        SenderType
	LeafIndex   uint32 // SenderMember
	SenderIndex uint32 // SenderExternal: index into external_senders
}

func (s *Sender) code(c coder) {
	reset(c, s)
	c.u8((*uint8)(&s.Type))
	if c.err() != nil {
		return
	}
	switch s.Type {
	case SenderMember:
		c.u32(&s.LeafIndex)
	case SenderExternal:
		c.u32(&s.SenderIndex)
	case SenderNewMemberProposal, SenderNewMemberCommit:
	default:
		// RFC 9420 §6: the select cannot be parsed for other types.
		c.unknownTag("Sender", "unknown sender type", "Sender type", uint64(s.Type))
	}
}

// MarshalMLS implements codec.Marshaler.
func (s *Sender) MarshalMLS(w *codec.Writer) { s.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (s *Sender) UnmarshalMLS(r *codec.Reader) { s.code(coder{r: r}) }

// codeBody codes the content_type-selected body shared by FramedContent
// and PrivateMessageContent (RFC 9420 §6, §6.3.1).
func codeBody(c coder, ct ContentType, application *[]byte, proposal **Proposal, commit **Commit) {
	switch ct {
	case ContentApplication:
		c.bytes(application)
		return
	case ContentProposal:
		if codePointer(c, proposal) {
			return
		}
	case ContentCommit:
		if codePointer(c, commit) {
			return
		}
	}
	// RFC 9420 §6: the select cannot be parsed for other content types (0
	// is reserved).
	c.unknownTag("content", "unknown content type or missing body", "content type", uint64(ct))
}

// FramedContent is the signed content of a message (RFC 9420 §6). Exactly
// the body matching ContentType is set.
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       ContentType
	Application       []byte    // ContentApplication
	Proposal          *Proposal // ContentProposal
	Commit            *Commit   // ContentCommit
}

func (fc *FramedContent) code(c coder) {
	reset(c, fc)
	c.bytes(&fc.GroupID)
	c.u64(&fc.Epoch)
	fc.Sender.code(c)
	c.bytes(&fc.AuthenticatedData)
	c.u8((*uint8)(&fc.ContentType))
	if c.err() != nil {
		return
	}
	codeBody(c, fc.ContentType, &fc.Application, &fc.Proposal, &fc.Commit)
}

// MarshalMLS implements codec.Marshaler.
func (fc *FramedContent) MarshalMLS(w *codec.Writer) { fc.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (fc *FramedContent) UnmarshalMLS(r *codec.Reader) { fc.code(coder{r: r}) }

// FramedContentAuthData is the signature and, for commits, the confirmation
// tag of a message (RFC 9420 §6.1). Its encoding depends on the content
// type of the enclosing content, so it has no MarshalMLS/UnmarshalMLS; use
// MarshalFor and UnmarshalFor.
type FramedContentAuthData struct {
	Signature       []byte
	ConfirmationTag []byte // present iff the content type is commit
}

// codeFor codes a as it appears after content of type ct.
func (a *FramedContentAuthData) codeFor(c coder, ct ContentType) {
	reset(c, a)
	c.bytes(&a.Signature)
	switch ct {
	case ContentCommit:
		// RFC 9420 §6.1: confirmation_tag is present iff content is a commit.
		c.bytes(&a.ConfirmationTag)
	case ContentApplication, ContentProposal:
		c.refuse(a.ConfirmationTag != nil, "FramedContentAuthData", "confirmation tag on non-commit content")
	default:
		c.unknownTag("FramedContentAuthData", "unknown content type", "content type", uint64(ct))
	}
}

// MarshalFor encodes a as it appears after content of type ct.
func (a *FramedContentAuthData) MarshalFor(w *codec.Writer, ct ContentType) {
	a.codeFor(coder{w: w}, ct)
}

// UnmarshalFor decodes a as it appears after content of type ct.
func (a *FramedContentAuthData) UnmarshalFor(r *codec.Reader, ct ContentType) {
	a.codeFor(coder{r: r}, ct)
}

// AuthenticatedContent is a FramedContent with its authentication data and
// the wire format it travels in (RFC 9420 §6.1).
type AuthenticatedContent struct {
	WireFormat WireFormat
	Content    FramedContent
	Auth       FramedContentAuthData
}

func (ac *AuthenticatedContent) code(c coder) {
	c.u16((*uint16)(&ac.WireFormat))
	ac.Content.code(c)
	if c.err() != nil {
		return
	}
	ac.Auth.codeFor(c, ac.Content.ContentType)
}

// MarshalMLS implements codec.Marshaler.
func (ac *AuthenticatedContent) MarshalMLS(w *codec.Writer) { ac.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (ac *AuthenticatedContent) UnmarshalMLS(r *codec.Reader) { ac.code(coder{r: r}) }

// FramedContentTBS is the input of the message signature,
// SignWithLabel(., "FramedContentTBS", .) (RFC 9420 §6.1). Context must be
// set when the sender is a member or a new member committing, and is
// ignored otherwise.
type FramedContentTBS struct {
	Version    ProtocolVersion
	WireFormat WireFormat
	Content    *FramedContent
	Context    *GroupContext
}

// MarshalMLS implements codec.Marshaler.
func (t *FramedContentTBS) MarshalMLS(w *codec.Writer) {
	if t.Content == nil {
		errEncode(w, "FramedContentTBS", "missing content")
		return
	}
	w.Uint16(uint16(t.Version))
	w.Uint16(uint16(t.WireFormat))
	t.Content.MarshalMLS(w)
	switch t.Content.Sender.Type {
	case SenderMember, SenderNewMemberCommit:
		// RFC 9420 §6.1: the group context is bound for these senders.
		if t.Context == nil {
			errEncode(w, "FramedContentTBS", "missing group context")
			return
		}
		t.Context.MarshalMLS(w)
	}
}

// TBS returns the FramedContentTBS encoding for ac (version mls10) that
// ac.Auth.Signature covers (RFC 9420 §6.1). ctx is required when the sender
// is a member or a new member committing.
func (ac *AuthenticatedContent) TBS(ctx *GroupContext) ([]byte, error) {
	return codec.Marshal(&FramedContentTBS{
		Version: MLS10, WireFormat: ac.WireFormat, Content: &ac.Content, Context: ctx,
	})
}

// AuthenticatedContentTBM is the input of the membership tag MAC of a
// PublicMessage (RFC 9420 §6.2).
type AuthenticatedContentTBM struct {
	ContentTBS FramedContentTBS
	Auth       FramedContentAuthData
}

// MarshalMLS implements codec.Marshaler.
func (t *AuthenticatedContentTBM) MarshalMLS(w *codec.Writer) {
	t.ContentTBS.MarshalMLS(w)
	if t.ContentTBS.Content != nil {
		t.Auth.MarshalFor(w, t.ContentTBS.Content.ContentType)
	}
}

// TBM returns the AuthenticatedContentTBM encoding for ac that a
// PublicMessage membership_tag covers (RFC 9420 §6.2).
func (ac *AuthenticatedContent) TBM(ctx *GroupContext) ([]byte, error) {
	return codec.Marshal(&AuthenticatedContentTBM{
		ContentTBS: FramedContentTBS{Version: MLS10, WireFormat: ac.WireFormat, Content: &ac.Content, Context: ctx},
		Auth:       ac.Auth,
	})
}

// ConfirmedTranscriptHashInput is hashed with the interim transcript hash
// into the confirmed transcript hash (RFC 9420 §8.2).
type ConfirmedTranscriptHashInput struct {
	WireFormat WireFormat
	Content    FramedContent // a commit
	Signature  []byte
}

func (in *ConfirmedTranscriptHashInput) code(c coder) {
	c.u16((*uint16)(&in.WireFormat))
	in.Content.code(c)
	c.bytes(&in.Signature)
}

// MarshalMLS implements codec.Marshaler.
func (in *ConfirmedTranscriptHashInput) MarshalMLS(w *codec.Writer) { in.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (in *ConfirmedTranscriptHashInput) UnmarshalMLS(r *codec.Reader) { in.code(coder{r: r}) }

// ConfirmedTranscriptHashInput returns the encoding of ac's
// ConfirmedTranscriptHashInput (RFC 9420 §8.2).
func (ac *AuthenticatedContent) ConfirmedTranscriptHashInput() ([]byte, error) {
	return codec.Marshal(&ConfirmedTranscriptHashInput{
		WireFormat: ac.WireFormat, Content: ac.Content, Signature: ac.Auth.Signature,
	})
}

// InterimTranscriptHashInput is hashed with the confirmed transcript hash
// into the interim transcript hash (RFC 9420 §8.2).
type InterimTranscriptHashInput struct {
	ConfirmationTag []byte
}

func (i *InterimTranscriptHashInput) code(c coder) { c.bytes(&i.ConfirmationTag) }

// MarshalMLS implements codec.Marshaler.
func (i *InterimTranscriptHashInput) MarshalMLS(w *codec.Writer) { i.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (i *InterimTranscriptHashInput) UnmarshalMLS(r *codec.Reader) { i.code(coder{r: r}) }

// InterimTranscriptHashInput returns the encoding of ac's
// InterimTranscriptHashInput (RFC 9420 §8.2).
func (ac *AuthenticatedContent) InterimTranscriptHashInput() ([]byte, error) {
	return codec.Marshal(&InterimTranscriptHashInput{ConfirmationTag: ac.Auth.ConfirmationTag})
}
