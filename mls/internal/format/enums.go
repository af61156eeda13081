// Package format owns the wire format of every RFC 9420 (MLS) structure: Go
// types whose code method lists their fields once, in order, for a coder
// that writes or reads them (coder.go), with MarshalMLS/UnmarshalMLS codec
// methods that run it, plus the exact "to-be-signed", "to-be-MACed" and
// "to-be-hashed" encodings that other packages feed into signatures, MACs
// and hashes. It performs no
// cryptography and no semantic validation beyond what is needed to parse:
// decoders reject values that make a structure unparseable (an unknown
// select tag), carry everything else as-is, and reject trailing bytes at the
// top level (codec.Unmarshal).
package format

import (
	"fmt"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
)

// ProtocolVersion is the MLS protocol version (RFC 9420 §6). Unknown values
// are carried; the state machine decides whether to accept them.
type ProtocolVersion uint16

// MLS10 is the only defined protocol version (RFC 9420 §6).
const MLS10 ProtocolVersion = 1

// CipherSuite is an MLS cipher suite identifier (RFC 9420 §5.1, §17.1).
type CipherSuite uint16

// ContentType says what a FramedContent carries (RFC 9420 §6).
type ContentType uint8

// Content types (RFC 9420 §6).
const (
	ContentApplication ContentType = 1
	ContentProposal    ContentType = 2
	ContentCommit      ContentType = 3
)

// SenderType says who sent a message (RFC 9420 §6).
type SenderType uint8

// Sender types (RFC 9420 §6).
const (
	SenderMember            SenderType = 1
	SenderExternal          SenderType = 2
	SenderNewMemberProposal SenderType = 3
	SenderNewMemberCommit   SenderType = 4
)

// WireFormat identifies the body of an MLSMessage (RFC 9420 §6, §17.2).
type WireFormat uint16

// Wire formats (RFC 9420 §6).
const (
	WirePublicMessage  WireFormat = 1
	WirePrivateMessage WireFormat = 2
	WireWelcome        WireFormat = 3
	WireGroupInfo      WireFormat = 4
	WireKeyPackage     WireFormat = 5
)

// ExtensionType identifies an Extension (RFC 9420 §13, §17.3). Unknown
// values are carried: extension_data is length-prefixed.
type ExtensionType uint16

// Extension types (RFC 9420 §17.3). ExtLastResort is not in RFC 9420; it is
// registered by draft-ietf-mls-extensions (last_resort, 0x000A) and used with
// that value by deployed implementations.
const (
	ExtApplicationID        ExtensionType = 0x0001
	ExtRatchetTree          ExtensionType = 0x0002
	ExtRequiredCapabilities ExtensionType = 0x0003
	ExtExternalPub          ExtensionType = 0x0004
	ExtExternalSenders      ExtensionType = 0x0005
	ExtLastResort           ExtensionType = 0x000A
)

// ProposalType identifies a Proposal (RFC 9420 §12.1, §17.4).
type ProposalType uint16

// Proposal types (RFC 9420 §17.4).
const (
	ProposalAdd                    ProposalType = 1
	ProposalUpdate                 ProposalType = 2
	ProposalRemove                 ProposalType = 3
	ProposalPreSharedKey           ProposalType = 4
	ProposalReInit                 ProposalType = 5
	ProposalExternalInit           ProposalType = 6
	ProposalGroupContextExtensions ProposalType = 7
)

// CredentialType identifies a Credential (RFC 9420 §5.3, §17.5).
type CredentialType uint16

// Credential types (RFC 9420 §17.5).
const (
	CredentialBasic CredentialType = 1
	CredentialX509  CredentialType = 2
)

// LeafNodeSource says how a LeafNode was created (RFC 9420 §7.2).
type LeafNodeSource uint8

// Leaf node sources (RFC 9420 §7.2).
const (
	LeafSourceKeyPackage LeafNodeSource = 1
	LeafSourceUpdate     LeafNodeSource = 2
	LeafSourceCommit     LeafNodeSource = 3
)

// NodeType distinguishes leaf and parent nodes (RFC 9420 §7.8).
type NodeType uint8

// Node types (RFC 9420 §7.8).
const (
	NodeTypeLeaf   NodeType = 1
	NodeTypeParent NodeType = 2
)

// PSKType identifies a pre-shared key kind (RFC 9420 §8.4).
type PSKType uint8

// PSK types (RFC 9420 §8.4).
const (
	PSKExternal   PSKType = 1
	PSKResumption PSKType = 2
)

// ResumptionPSKUsage says why a resumption PSK is used (RFC 9420 §8.4).
// Unknown values are carried; the field has a fixed size.
type ResumptionPSKUsage uint8

// Resumption PSK usages (RFC 9420 §8.4).
const (
	ResumptionApplication ResumptionPSKUsage = 1
	ResumptionReInit      ResumptionPSKUsage = 2
	ResumptionBranch      ResumptionPSKUsage = 3
)

// ProposalOrRefType says whether a commit carries a proposal by value or by
// reference (RFC 9420 §12.4).
type ProposalOrRefType uint8

// ProposalOrRef types (RFC 9420 §12.4).
const (
	ProposalOrRefProposal  ProposalOrRefType = 1
	ProposalOrRefReference ProposalOrRefType = 2
)

// errEnum records an unknown select tag that makes a structure unparseable.
func errEnum(r *codec.Reader, what string, v uint64) {
	r.SetErr(fmt.Errorf("mls: decoding %s: %w: %d", what, codec.ErrInvalidEnum, v))
}

// errEncode records a structure that cannot be encoded as given.
func errEncode(w *codec.Writer, what, why string) {
	w.SetErr(fmt.Errorf("mls: encoding %s: %s", what, why))
}

// tbsBytes returns the to-be-signed fields that tbs codes, encoded, or nil
// if they cannot be encoded (the TBS methods of signed structures).
func tbsBytes(tbs func(c coder)) []byte {
	b, err := marshalFunc(func(w *codec.Writer) { tbs(coder{w: w}) })
	if err != nil {
		return nil
	}
	return b
}

// marshalFunc encodes what f writes.
func marshalFunc(f func(w *codec.Writer)) ([]byte, error) {
	var w codec.Writer
	f(&w)
	return w.Result()
}
