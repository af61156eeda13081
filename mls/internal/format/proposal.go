package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// PreSharedKeyID names a pre-shared key (RFC 9420 §8.4).
type PreSharedKeyID struct {
	PSKType    PSKType
	PSKID      []byte             // external
	Usage      ResumptionPSKUsage // resumption
	PSKGroupID []byte             // resumption
	PSKEpoch   uint64             // resumption
	Nonce      []byte
}

func (p *PreSharedKeyID) code(c coder) {
	reset(c, p)
	c.u8((*uint8)(&p.PSKType))
	if c.err() != nil {
		return
	}
	switch p.PSKType {
	case PSKExternal:
		c.bytes(&p.PSKID)
	case PSKResumption:
		c.u8((*uint8)(&p.Usage))
		c.bytes(&p.PSKGroupID)
		c.u64(&p.PSKEpoch)
	default:
		// RFC 9420 §8.4: the select cannot be parsed for other types.
		c.unknownTag("PreSharedKeyID", "unknown PSK type", "PreSharedKeyID type", uint64(p.PSKType))
		return
	}
	c.bytes(&p.Nonce)
}

// MarshalMLS implements codec.Marshaler.
func (p *PreSharedKeyID) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *PreSharedKeyID) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// PSKLabel is the context of each PSK's extraction into psk_secret
// (RFC 9420 §8.4).
type PSKLabel struct {
	ID    PreSharedKeyID
	Index uint16
	Count uint16
}

func (l *PSKLabel) code(c coder) {
	l.ID.code(c)
	c.u16(&l.Index)
	c.u16(&l.Count)
}

// MarshalMLS implements codec.Marshaler.
func (l *PSKLabel) MarshalMLS(w *codec.Writer) { l.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (l *PSKLabel) UnmarshalMLS(r *codec.Reader) { l.code(coder{r: r}) }

// AddProposal adds a member (RFC 9420 §12.1.1).
type AddProposal struct{ KeyPackage KeyPackage }

func (p *AddProposal) code(c coder) { p.KeyPackage.code(c) }

// MarshalMLS implements codec.Marshaler.
func (p *AddProposal) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *AddProposal) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// UpdateProposal replaces the sender's leaf (RFC 9420 §12.1.2).
type UpdateProposal struct{ LeafNode LeafNode }

func (p *UpdateProposal) code(c coder) { p.LeafNode.code(c) }

// MarshalMLS implements codec.Marshaler.
func (p *UpdateProposal) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *UpdateProposal) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// RemoveProposal removes the member at a leaf index (RFC 9420 §12.1.3).
type RemoveProposal struct{ Removed uint32 }

func (p *RemoveProposal) code(c coder) { c.u32(&p.Removed) }

// MarshalMLS implements codec.Marshaler.
func (p *RemoveProposal) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *RemoveProposal) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// PreSharedKeyProposal injects a PSK into the key schedule (RFC 9420
// §12.1.4).
type PreSharedKeyProposal struct{ PSK PreSharedKeyID }

func (p *PreSharedKeyProposal) code(c coder) { p.PSK.code(c) }

// MarshalMLS implements codec.Marshaler.
func (p *PreSharedKeyProposal) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *PreSharedKeyProposal) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// ReInitProposal re-initializes the group with new parameters (RFC 9420
// §12.1.5).
type ReInitProposal struct {
	GroupID     []byte
	Version     ProtocolVersion
	CipherSuite CipherSuite
	Extensions  []Extension
}

func (p *ReInitProposal) code(c coder) {
	c.bytes(&p.GroupID)
	c.u16((*uint16)(&p.Version))
	c.u16((*uint16)(&p.CipherSuite))
	codeExtensions(c, &p.Extensions)
}

// MarshalMLS implements codec.Marshaler.
func (p *ReInitProposal) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ReInitProposal) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// ExternalInitProposal carries the KEM output of an external commit
// (RFC 9420 §12.1.6).
type ExternalInitProposal struct{ KEMOutput []byte }

func (p *ExternalInitProposal) code(c coder) { c.bytes(&p.KEMOutput) }

// MarshalMLS implements codec.Marshaler.
func (p *ExternalInitProposal) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ExternalInitProposal) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// GroupContextExtensionsProposal replaces the group context extensions
// (RFC 9420 §12.1.7).
type GroupContextExtensionsProposal struct{ Extensions []Extension }

func (p *GroupContextExtensionsProposal) code(c coder) { codeExtensions(c, &p.Extensions) }

// MarshalMLS implements codec.Marshaler.
func (p *GroupContextExtensionsProposal) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *GroupContextExtensionsProposal) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// Proposal is a proposed change to the group (RFC 9420 §12.1). Exactly the
// field matching Type is set.
type Proposal struct {
	Type                   ProposalType
	Add                    *AddProposal
	Update                 *UpdateProposal
	Remove                 *RemoveProposal
	PreSharedKey           *PreSharedKeyProposal
	ReInit                 *ReInitProposal
	ExternalInit           *ExternalInitProposal
	GroupContextExtensions *GroupContextExtensionsProposal
}

// proposalArms are Proposal's cases (union.go).
var proposalArms = []arm[Proposal, ProposalType]{
	armOf(ProposalAdd, func(p *Proposal) **AddProposal { return &p.Add }),
	armOf(ProposalUpdate, func(p *Proposal) **UpdateProposal { return &p.Update }),
	armOf(ProposalRemove, func(p *Proposal) **RemoveProposal { return &p.Remove }),
	armOf(ProposalPreSharedKey, func(p *Proposal) **PreSharedKeyProposal { return &p.PreSharedKey }),
	armOf(ProposalReInit, func(p *Proposal) **ReInitProposal { return &p.ReInit }),
	armOf(ProposalExternalInit, func(p *Proposal) **ExternalInitProposal { return &p.ExternalInit }),
	armOf(ProposalGroupContextExtensions, func(p *Proposal) **GroupContextExtensionsProposal { return &p.GroupContextExtensions }),
}

func (p *Proposal) code(c coder) {
	reset(c, p)
	c.u16((*uint16)(&p.Type))
	// RFC 9420 §12.1: a proposal body has no length prefix, so a proposal
	// of unknown type cannot be parsed.
	codeArm(c, proposalArms, p, p.Type, "Proposal", "unknown type or missing body", "Proposal type")
}

// MarshalMLS implements codec.Marshaler.
func (p *Proposal) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *Proposal) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// ProposalOrRef is a proposal carried in a Commit, by value or by
// reference (RFC 9420 §12.4).
type ProposalOrRef struct {
	Type      ProposalOrRefType
	Proposal  *Proposal // ProposalOrRefProposal
	Reference []byte    // ProposalOrRefReference: a ProposalRef
}

func (p *ProposalOrRef) code(c coder) {
	reset(c, p)
	c.u8((*uint8)(&p.Type))
	if c.err() != nil {
		return
	}
	switch p.Type {
	case ProposalOrRefProposal:
		if codePointer(c, &p.Proposal) {
			return
		}
	case ProposalOrRefReference:
		c.bytes(&p.Reference)
		return
	}
	// RFC 9420 §12.4: the select cannot be parsed for other types.
	c.unknownTag("ProposalOrRef", "unknown type or missing proposal", "ProposalOrRef type", uint64(p.Type))
}

// MarshalMLS implements codec.Marshaler.
func (p *ProposalOrRef) MarshalMLS(w *codec.Writer) { p.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ProposalOrRef) UnmarshalMLS(r *codec.Reader) { p.code(coder{r: r}) }

// Commit applies proposals and optionally updates the committer's path
// (RFC 9420 §12.4).
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath // nil if absent
}

func (cm *Commit) code(c coder) {
	codeStructs(c, &cm.Proposals)
	codeOptional(c, &cm.Path)
}

// MarshalMLS implements codec.Marshaler.
func (cm *Commit) MarshalMLS(w *codec.Writer) { cm.code(coder{w: w}) }

// UnmarshalMLS implements codec.Unmarshaler.
func (cm *Commit) UnmarshalMLS(r *codec.Reader) { cm.code(coder{r: r}) }
