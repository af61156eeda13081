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

// MarshalMLS implements codec.Marshaler.
func (g *GroupContext) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(g.Version))
	w.Uint16(uint16(g.CipherSuite))
	w.VarBytes(g.GroupID)
	w.Uint64(g.Epoch)
	w.VarBytes(g.TreeHash)
	w.VarBytes(g.ConfirmedTranscriptHash)
	writeStructs(w, g.Extensions)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (g *GroupContext) UnmarshalMLS(r *codec.Reader) {
	g.Version = ProtocolVersion(r.Uint16())
	g.CipherSuite = CipherSuite(r.Uint16())
	g.GroupID = r.VarBytes()
	g.Epoch = r.Uint64()
	g.TreeHash = r.VarBytes()
	g.ConfirmedTranscriptHash = r.VarBytes()
	g.Extensions = readExtensions(r)
}

// Sender identifies the sender of a message (RFC 9420 §6).
type Sender struct {
	Type        SenderType
	LeafIndex   uint32 // SenderMember
	SenderIndex uint32 // SenderExternal: index into external_senders
}

// MarshalMLS implements codec.Marshaler.
func (s *Sender) MarshalMLS(w *codec.Writer) {
	w.Uint8(uint8(s.Type))
	switch s.Type {
	case SenderMember:
		w.Uint32(s.LeafIndex)
	case SenderExternal:
		w.Uint32(s.SenderIndex)
	case SenderNewMemberProposal, SenderNewMemberCommit:
	default:
		errEncode(w, "Sender", "unknown sender type")
	}
}

// UnmarshalMLS implements codec.Unmarshaler.
func (s *Sender) UnmarshalMLS(r *codec.Reader) {
	*s = Sender{Type: SenderType(r.Uint8())}
	if r.Err() != nil {
		return
	}
	switch s.Type {
	case SenderMember:
		s.LeafIndex = r.Uint32()
	case SenderExternal:
		s.SenderIndex = r.Uint32()
	case SenderNewMemberProposal, SenderNewMemberCommit:
	default:
		// RFC 9420 §6: the select cannot be parsed for other types.
		errEnum(r, "Sender type", uint64(s.Type))
	}
}

// contentBody is the content_type-selected body shared by FramedContent and
// PrivateMessageContent (RFC 9420 §6, §6.3.1).
type contentBody struct {
	Application []byte    // ContentApplication
	Proposal    *Proposal // ContentProposal
	Commit      *Commit   // ContentCommit
}

func marshalBody(w *codec.Writer, ct ContentType, b contentBody) {
	switch {
	case ct == ContentApplication:
		w.VarBytes(b.Application)
	case ct == ContentProposal && b.Proposal != nil:
		b.Proposal.MarshalMLS(w)
	case ct == ContentCommit && b.Commit != nil:
		b.Commit.MarshalMLS(w)
	default:
		errEncode(w, "content", "unknown content type or missing body")
	}
}

func unmarshalBody(r *codec.Reader, ct ContentType) contentBody {
	var b contentBody
	switch ct {
	case ContentApplication:
		b.Application = r.VarBytes()
	case ContentProposal:
		b.Proposal = readStruct[Proposal](r)
	case ContentCommit:
		b.Commit = readStruct[Commit](r)
	default:
		// RFC 9420 §6: the select cannot be parsed for other content types
		// (0 is reserved).
		errEnum(r, "content type", uint64(ct))
	}
	return b
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

func (c *FramedContent) body() contentBody {
	return contentBody{Application: c.Application, Proposal: c.Proposal, Commit: c.Commit}
}

// MarshalMLS implements codec.Marshaler.
func (c *FramedContent) MarshalMLS(w *codec.Writer) {
	w.VarBytes(c.GroupID)
	w.Uint64(c.Epoch)
	c.Sender.MarshalMLS(w)
	w.VarBytes(c.AuthenticatedData)
	w.Uint8(uint8(c.ContentType))
	marshalBody(w, c.ContentType, c.body())
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *FramedContent) UnmarshalMLS(r *codec.Reader) {
	*c = FramedContent{}
	c.GroupID = r.VarBytes()
	c.Epoch = r.Uint64()
	c.Sender.UnmarshalMLS(r)
	c.AuthenticatedData = r.VarBytes()
	c.ContentType = ContentType(r.Uint8())
	if r.Err() != nil {
		return
	}
	b := unmarshalBody(r, c.ContentType)
	c.Application, c.Proposal, c.Commit = b.Application, b.Proposal, b.Commit
}

// FramedContentAuthData is the signature and, for commits, the confirmation
// tag of a message (RFC 9420 §6.1). Its encoding depends on the content
// type of the enclosing content, so it has no MarshalMLS/UnmarshalMLS; use
// MarshalFor and UnmarshalFor.
type FramedContentAuthData struct {
	Signature       []byte
	ConfirmationTag []byte // present iff the content type is commit
}

// MarshalFor encodes a as it appears after content of type ct.
func (a *FramedContentAuthData) MarshalFor(w *codec.Writer, ct ContentType) {
	w.VarBytes(a.Signature)
	switch ct {
	case ContentCommit:
		w.VarBytes(a.ConfirmationTag)
	case ContentApplication, ContentProposal:
		if a.ConfirmationTag != nil {
			errEncode(w, "FramedContentAuthData", "confirmation tag on non-commit content")
		}
	default:
		errEncode(w, "FramedContentAuthData", "unknown content type")
	}
}

// UnmarshalFor decodes a as it appears after content of type ct.
func (a *FramedContentAuthData) UnmarshalFor(r *codec.Reader, ct ContentType) {
	*a = FramedContentAuthData{Signature: r.VarBytes()}
	switch ct {
	case ContentCommit:
		// RFC 9420 §6.1: confirmation_tag is present iff content is a commit.
		a.ConfirmationTag = r.VarBytes()
	case ContentApplication, ContentProposal:
	default:
		errEnum(r, "content type", uint64(ct))
	}
}

// AuthenticatedContent is a FramedContent with its authentication data and
// the wire format it travels in (RFC 9420 §6.1).
type AuthenticatedContent struct {
	WireFormat WireFormat
	Content    FramedContent
	Auth       FramedContentAuthData
}

// MarshalMLS implements codec.Marshaler.
func (ac *AuthenticatedContent) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(ac.WireFormat))
	ac.Content.MarshalMLS(w)
	ac.Auth.MarshalFor(w, ac.Content.ContentType)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (ac *AuthenticatedContent) UnmarshalMLS(r *codec.Reader) {
	ac.WireFormat = WireFormat(r.Uint16())
	ac.Content.UnmarshalMLS(r)
	if r.Err() != nil {
		return
	}
	ac.Auth.UnmarshalFor(r, ac.Content.ContentType)
}

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

// MarshalMLS implements codec.Marshaler.
func (c *ConfirmedTranscriptHashInput) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(c.WireFormat))
	c.Content.MarshalMLS(w)
	w.VarBytes(c.Signature)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *ConfirmedTranscriptHashInput) UnmarshalMLS(r *codec.Reader) {
	c.WireFormat = WireFormat(r.Uint16())
	c.Content.UnmarshalMLS(r)
	c.Signature = r.VarBytes()
}

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

// MarshalMLS implements codec.Marshaler.
func (i *InterimTranscriptHashInput) MarshalMLS(w *codec.Writer) { w.VarBytes(i.ConfirmationTag) }

// UnmarshalMLS implements codec.Unmarshaler.
func (i *InterimTranscriptHashInput) UnmarshalMLS(r *codec.Reader) {
	i.ConfirmationTag = r.VarBytes()
}

// InterimTranscriptHashInput returns the encoding of ac's
// InterimTranscriptHashInput (RFC 9420 §8.2).
func (ac *AuthenticatedContent) InterimTranscriptHashInput() ([]byte, error) {
	return codec.Marshal(&InterimTranscriptHashInput{ConfirmationTag: ac.Auth.ConfirmationTag})
}
