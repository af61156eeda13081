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

// MarshalMLS implements codec.Marshaler.
func (p *PreSharedKeyID) MarshalMLS(w *codec.Writer) {
	w.Uint8(uint8(p.PSKType))
	switch p.PSKType {
	case PSKExternal:
		w.VarBytes(p.PSKID)
	case PSKResumption:
		w.Uint8(uint8(p.Usage))
		w.VarBytes(p.PSKGroupID)
		w.Uint64(p.PSKEpoch)
	default:
		errEncode(w, "PreSharedKeyID", "unknown PSK type")
	}
	w.VarBytes(p.Nonce)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *PreSharedKeyID) UnmarshalMLS(r *codec.Reader) {
	*p = PreSharedKeyID{PSKType: PSKType(r.Uint8())}
	if r.Err() != nil {
		return
	}
	switch p.PSKType {
	case PSKExternal:
		p.PSKID = r.VarBytes()
	case PSKResumption:
		p.Usage = ResumptionPSKUsage(r.Uint8())
		p.PSKGroupID = r.VarBytes()
		p.PSKEpoch = r.Uint64()
	default:
		// RFC 9420 §8.4: the select cannot be parsed for other types.
		errEnum(r, "PreSharedKeyID type", uint64(p.PSKType))
		return
	}
	p.Nonce = r.VarBytes()
}

// PSKLabel is the context of each PSK's extraction into psk_secret
// (RFC 9420 §8.4).
type PSKLabel struct {
	ID    PreSharedKeyID
	Index uint16
	Count uint16
}

// MarshalMLS implements codec.Marshaler.
func (l *PSKLabel) MarshalMLS(w *codec.Writer) {
	l.ID.MarshalMLS(w)
	w.Uint16(l.Index)
	w.Uint16(l.Count)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (l *PSKLabel) UnmarshalMLS(r *codec.Reader) {
	l.ID.UnmarshalMLS(r)
	l.Index = r.Uint16()
	l.Count = r.Uint16()
}

// AddProposal adds a member (RFC 9420 §12.1.1).
type AddProposal struct{ KeyPackage KeyPackage }

// MarshalMLS implements codec.Marshaler.
func (p *AddProposal) MarshalMLS(w *codec.Writer) { p.KeyPackage.MarshalMLS(w) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *AddProposal) UnmarshalMLS(r *codec.Reader) { p.KeyPackage.UnmarshalMLS(r) }

// UpdateProposal replaces the sender's leaf (RFC 9420 §12.1.2).
type UpdateProposal struct{ LeafNode LeafNode }

// MarshalMLS implements codec.Marshaler.
func (p *UpdateProposal) MarshalMLS(w *codec.Writer) { p.LeafNode.MarshalMLS(w) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *UpdateProposal) UnmarshalMLS(r *codec.Reader) { p.LeafNode.UnmarshalMLS(r) }

// RemoveProposal removes the member at a leaf index (RFC 9420 §12.1.3).
type RemoveProposal struct{ Removed uint32 }

// MarshalMLS implements codec.Marshaler.
func (p *RemoveProposal) MarshalMLS(w *codec.Writer) { w.Uint32(p.Removed) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *RemoveProposal) UnmarshalMLS(r *codec.Reader) { p.Removed = r.Uint32() }

// PreSharedKeyProposal injects a PSK into the key schedule (RFC 9420
// §12.1.4).
type PreSharedKeyProposal struct{ PSK PreSharedKeyID }

// MarshalMLS implements codec.Marshaler.
func (p *PreSharedKeyProposal) MarshalMLS(w *codec.Writer) { p.PSK.MarshalMLS(w) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *PreSharedKeyProposal) UnmarshalMLS(r *codec.Reader) { p.PSK.UnmarshalMLS(r) }

// ReInitProposal re-initializes the group with new parameters (RFC 9420
// §12.1.5).
type ReInitProposal struct {
	GroupID     []byte
	Version     ProtocolVersion
	CipherSuite CipherSuite
	Extensions  []Extension
}

// MarshalMLS implements codec.Marshaler.
func (p *ReInitProposal) MarshalMLS(w *codec.Writer) {
	w.VarBytes(p.GroupID)
	w.Uint16(uint16(p.Version))
	w.Uint16(uint16(p.CipherSuite))
	writeStructs(w, p.Extensions)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ReInitProposal) UnmarshalMLS(r *codec.Reader) {
	p.GroupID = r.VarBytes()
	p.Version = ProtocolVersion(r.Uint16())
	p.CipherSuite = CipherSuite(r.Uint16())
	p.Extensions = readExtensions(r)
}

// ExternalInitProposal carries the KEM output of an external commit
// (RFC 9420 §12.1.6).
type ExternalInitProposal struct{ KEMOutput []byte }

// MarshalMLS implements codec.Marshaler.
func (p *ExternalInitProposal) MarshalMLS(w *codec.Writer) { w.VarBytes(p.KEMOutput) }

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ExternalInitProposal) UnmarshalMLS(r *codec.Reader) { p.KEMOutput = r.VarBytes() }

// GroupContextExtensionsProposal replaces the group context extensions
// (RFC 9420 §12.1.7).
type GroupContextExtensionsProposal struct{ Extensions []Extension }

// MarshalMLS implements codec.Marshaler.
func (p *GroupContextExtensionsProposal) MarshalMLS(w *codec.Writer) {
	writeStructs(w, p.Extensions)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *GroupContextExtensionsProposal) UnmarshalMLS(r *codec.Reader) {
	p.Extensions = readExtensions(r)
}

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

// body returns the set body for p.Type, or nil if it is missing or the type
// is unknown.
func (p *Proposal) body() codec.Marshaler { return bodyOf(proposalArms, p, p.Type) }

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

// MarshalMLS implements codec.Marshaler.
func (p *Proposal) MarshalMLS(w *codec.Writer) {
	body := p.body()
	if body == nil {
		errEncode(w, "Proposal", "unknown type or missing body")
		return
	}
	w.Uint16(uint16(p.Type))
	body.MarshalMLS(w)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *Proposal) UnmarshalMLS(r *codec.Reader) {
	*p = Proposal{Type: ProposalType(r.Uint16())}
	if r.Err() != nil {
		return
	}
	if !readArm(proposalArms, p, p.Type, r) {
		// RFC 9420 §12.1: a proposal body has no length prefix, so a
		// proposal of unknown type cannot be parsed.
		errEnum(r, "Proposal type", uint64(p.Type))
	}
}

// ProposalOrRef is a proposal carried in a Commit, by value or by
// reference (RFC 9420 §12.4).
type ProposalOrRef struct {
	Type      ProposalOrRefType
	Proposal  *Proposal // ProposalOrRefProposal
	Reference []byte    // ProposalOrRefReference: a ProposalRef
}

// MarshalMLS implements codec.Marshaler.
func (p *ProposalOrRef) MarshalMLS(w *codec.Writer) {
	switch {
	case p.Type == ProposalOrRefProposal && p.Proposal != nil:
		w.Uint8(uint8(p.Type))
		p.Proposal.MarshalMLS(w)
	case p.Type == ProposalOrRefReference:
		w.Uint8(uint8(p.Type))
		w.VarBytes(p.Reference)
	default:
		errEncode(w, "ProposalOrRef", "unknown type or missing proposal")
	}
}

// UnmarshalMLS implements codec.Unmarshaler.
func (p *ProposalOrRef) UnmarshalMLS(r *codec.Reader) {
	*p = ProposalOrRef{Type: ProposalOrRefType(r.Uint8())}
	if r.Err() != nil {
		return
	}
	switch p.Type {
	case ProposalOrRefProposal:
		p.Proposal = readStruct[Proposal](r)
	case ProposalOrRefReference:
		p.Reference = r.VarBytes()
	default:
		// RFC 9420 §12.4: the select cannot be parsed for other types.
		errEnum(r, "ProposalOrRef type", uint64(p.Type))
	}
}

// Commit applies proposals and optionally updates the committer's path
// (RFC 9420 §12.4).
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath // nil if absent
}

// MarshalMLS implements codec.Marshaler.
func (c *Commit) MarshalMLS(w *codec.Writer) {
	writeStructs(w, c.Proposals)
	writeOptional(w, c.Path)
}

// UnmarshalMLS implements codec.Unmarshaler.
func (c *Commit) UnmarshalMLS(r *codec.Reader) {
	c.Proposals = readStructs[ProposalOrRef](r)
	c.Path = readOptional[UpdatePath](r)
}
