package format

import (
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

// PublicMessage is a signed, unencrypted handshake or application message
// (RFC 9420 §6.2).
type PublicMessage struct {
	Content       FramedContent
	Auth          FramedContentAuthData
	MembershipTag []byte // present iff the sender is a member
}

func (m *PublicMessage) code(c coder) {
	reset(c, m)
	m.Content.code(c)
	if c.err() != nil {
		return
	}
	m.Auth.codeFor(c, m.Content.ContentType)
	// RFC 9420 §6.2: membership_tag is present iff sender_type is member.
	if m.Content.Sender.Type == SenderMember {
		c.bytes(&m.MembershipTag)
	} else {
		c.refuse(m.MembershipTag != nil, "PublicMessage", "membership tag for a non-member sender")
	}
}

// MarshalMLS implements codec.Marshaler.
func (m *PublicMessage) MarshalMLS(w *codec.Writer) { m.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (m *PublicMessage) UnmarshalMLS(r *codec.Reader) { m.code(coder{r: r}) }

// Authenticated returns the AuthenticatedContent that m carries, with wire
// format public_message (RFC 9420 §6.2). It shares m's slices.
func (m *PublicMessage) Authenticated() *AuthenticatedContent {
	return &AuthenticatedContent{WireFormat: WirePublicMessage, Content: m.Content, Auth: m.Auth}
}

// PrivateMessage is an encrypted message (RFC 9420 §6.3).
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         ContentType
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

// code codes m, which starts with the fields of its PrivateContentAAD, in
// the same order (RFC 9420 §6.3). The content type is carried as-is: it
// does not change this structure's layout, and the content decoder rejects
// unknown values (RFC 9420 §6.3.1).
func (m *PrivateMessage) code(c coder) {
	aad := m.contentAAD()
	aad.code(c)
	if c.reading() {
		m.GroupID, m.Epoch, m.ContentType, m.AuthenticatedData = aad.GroupID, aad.Epoch, aad.ContentType, aad.AuthenticatedData
	}
	c.bytes(&m.EncryptedSenderData)
	c.bytes(&m.Ciphertext)
}

// MarshalMLS implements codec.Marshaler.
func (m *PrivateMessage) MarshalMLS(w *codec.Writer) { m.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (m *PrivateMessage) UnmarshalMLS(r *codec.Reader) { m.code(coder{r: r}) }

// PrivateContentAAD is the AEAD associated data of a PrivateMessage's
// ciphertext (RFC 9420 §6.3.1).
type PrivateContentAAD struct {
	GroupID           []byte
	Epoch             uint64
	ContentType       ContentType
	AuthenticatedData []byte
}

func (a *PrivateContentAAD) code(c coder) {
	c.bytes(&a.GroupID)
	c.u64(&a.Epoch)
	c.u8((*uint8)(&a.ContentType))
	c.bytes(&a.AuthenticatedData)
}

// MarshalMLS implements codec.Marshaler.
func (a *PrivateContentAAD) MarshalMLS(w *codec.Writer) { a.code(coder{w: w}) }

// ContentAAD returns the PrivateContentAAD encoding for m (RFC 9420 §6.3.1).
func (m *PrivateMessage) ContentAAD() ([]byte, error) {
	return codec.Marshal(m.contentAAD())
}

func (m *PrivateMessage) contentAAD() *PrivateContentAAD {
	return &PrivateContentAAD{GroupID: m.GroupID, Epoch: m.Epoch, ContentType: m.ContentType, AuthenticatedData: m.AuthenticatedData}
}

// SenderDataAAD is the AEAD associated data of a PrivateMessage's
// encrypted sender data (RFC 9420 §6.3.2).
type SenderDataAAD struct {
	GroupID     []byte
	Epoch       uint64
	ContentType ContentType
}

// MarshalMLS implements codec.Marshaler.
func (a *SenderDataAAD) MarshalMLS(w *codec.Writer) {
	w.VarBytes(a.GroupID)
	w.Uint64(a.Epoch)
	w.Uint8(uint8(a.ContentType))
}

// SenderDataAAD returns the SenderDataAAD encoding for m (RFC 9420 §6.3.2).
func (m *PrivateMessage) SenderDataAAD() ([]byte, error) {
	return codec.Marshal(&SenderDataAAD{GroupID: m.GroupID, Epoch: m.Epoch, ContentType: m.ContentType})
}

// SenderData is the plaintext of a PrivateMessage's encrypted sender data
// (RFC 9420 §6.3.2).
type SenderData struct {
	LeafIndex  uint32
	Generation uint32
	ReuseGuard [4]byte
}

func (s *SenderData) code(c coder) {
	c.u32(&s.LeafIndex)
	c.u32(&s.Generation)
	c.fixed(s.ReuseGuard[:])
}

// MarshalMLS implements codec.Marshaler.
func (s *SenderData) MarshalMLS(w *codec.Writer) { s.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (s *SenderData) UnmarshalMLS(r *codec.Reader) { s.code(coder{r: r}) }

// PrivateMessageContent is the plaintext of a PrivateMessage's ciphertext
// (RFC 9420 §6.3.1). ContentType is not encoded: it comes from the outer
// PrivateMessage and selects the body. Padding is the number of zero bytes
// that follow the auth data.
type PrivateMessageContent struct {
	ContentType ContentType
	Application []byte    // ContentApplication
	Proposal    *Proposal // ContentProposal
	Commit      *Commit   // ContentCommit
	Auth        FramedContentAuthData
	Padding     int
}

// code codes pc; decoding, pc.ContentType must be set to the outer
// PrivateMessage's content type, and all remaining input is padding and
// must be zero.
func (pc *PrivateMessageContent) code(c coder) {
	ct := pc.ContentType
	if c.reading() {
		*pc = PrivateMessageContent{ContentType: ct}
	}
	codeBody(c, ct, &pc.Application, &pc.Proposal, &pc.Commit)
	pc.Auth.codeFor(c, ct)
	pc.codePadding(c)
}

// MarshalMLS implements codec.Marshaler.
func (pc *PrivateMessageContent) MarshalMLS(w *codec.Writer) { pc.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler. pc.ContentType must be set to
// the outer PrivateMessage's content type before the call. All remaining
// input is padding and must be zero.
func (pc *PrivateMessageContent) UnmarshalMLS(r *codec.Reader) { pc.code(coder{r: r}) }

// codePadding codes the padding: Padding zero bytes, all the rest of the
// input when decoding.
func (pc *PrivateMessageContent) codePadding(c coder) {
	if !c.reading() {
		if pc.Padding < 0 || pc.Padding > codec.MaxVarint {
			errEncode(c.w, "PrivateMessageContent", "invalid padding length")
			return
		}
		c.w.Raw(make([]byte, pc.Padding))
		return
	}
	r := c.r
	if r.Err() != nil {
		return
	}
	pad := r.Raw(r.Len())
	var acc byte
	for _, p := range pad {
		acc |= p
	}
	// RFC 9420 §6.3.1: the recipient MUST check that all padding is zero.
	if acc != 0 {
		r.SetErr(fmt.Errorf("mls: decoding PrivateMessageContent: non-zero padding"))
		return
	}
	pc.Padding = len(pad)
}

// ParsePrivateMessageContent decodes the plaintext of a PrivateMessage
// whose content type is ct (RFC 9420 §6.3.1).
func ParsePrivateMessageContent(b []byte, ct ContentType) (*PrivateMessageContent, error) {
	c := &PrivateMessageContent{ContentType: ct}
	if err := codec.Unmarshal(b, c); err != nil {
		return nil, err
	}
	return c, nil
}

// MLSMessage is the top-level envelope of everything MLS sends (RFC 9420
// §6). Exactly the body matching WireFormat is set.
type MLSMessage struct {
	Version        ProtocolVersion
	WireFormat     WireFormat
	PublicMessage  *PublicMessage
	PrivateMessage *PrivateMessage
	Welcome        *Welcome
	GroupInfo      *GroupInfo
	KeyPackage     *KeyPackage
}

// mlsMessageArms are MLSMessage's cases (union.go).
var mlsMessageArms = []arm[MLSMessage, WireFormat]{
	armOf(WirePublicMessage, func(m *MLSMessage) **PublicMessage { return &m.PublicMessage }),
	armOf(WirePrivateMessage, func(m *MLSMessage) **PrivateMessage { return &m.PrivateMessage }),
	armOf(WireWelcome, func(m *MLSMessage) **Welcome { return &m.Welcome }),
	armOf(WireGroupInfo, func(m *MLSMessage) **GroupInfo { return &m.GroupInfo }),
	armOf(WireKeyPackage, func(m *MLSMessage) **KeyPackage { return &m.KeyPackage }),
}

// code codes m. The version is carried as-is; the caller checks it (RFC
// 9420 §6).
func (m *MLSMessage) code(c coder) {
	reset(c, m)
	c.u16((*uint16)(&m.Version))
	c.u16((*uint16)(&m.WireFormat))
	// RFC 9420 §6: the select cannot be parsed for other wire formats.
	codeArm(c, mlsMessageArms, m, m.WireFormat, "MLSMessage", "unknown wire format or missing body", "MLSMessage wire format")
}

// MarshalMLS implements codec.Marshaler.
func (m *MLSMessage) MarshalMLS(w *codec.Writer) { m.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (m *MLSMessage) UnmarshalMLS(r *codec.Reader) { m.code(coder{r: r}) }
