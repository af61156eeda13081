package mls

import (
	"slices"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
)

// leafContext is the group information a leaf is validated against: the
// group id and leaf index bound into update/commit leaf signatures and the
// group's required_capabilities (RFC 9420 §7.3). A nil *leafContext is a
// key package leaf checked outside a group.
type leafContext struct {
	groupID    []byte
	extensions []format.Extension // group context extensions
}

// defaultExtension reports whether t is one of RFC 9420's default
// extension types, which need not appear in capabilities (§7.2).
func defaultExtension(t format.ExtensionType) bool {
	return t >= format.ExtApplicationID && t <= format.ExtExternalSenders
}

// defaultProposal reports whether t is one of RFC 9420's default proposal
// types (§7.2).
func defaultProposal(t format.ProposalType) bool {
	return t >= format.ProposalAdd && t <= format.ProposalGroupContextExtensions
}

// validateLeafNode runs the per-leaf checks of RFC 9420 §7.3.
func validateLeafNode(cfg Config, s *suite.Suite, leaf *format.LeafNode, lc *leafContext, index uint32, checkLifetime bool) error {
	var gid []byte
	if lc != nil {
		gid = lc.groupID
	}
	// RFC 9420 §7.3: the signature is valid (group_id and leaf_index are
	// bound for update and commit sources, §7.2).
	if err := s.VerifyWithLabel(leaf.SignatureKey, "LeafNodeTBS", leaf.TBS(gid, index), leaf.Signature); err != nil {
		return invalidErr("7.3", "leaf node signature", ErrBadSignature)
	}
	// RFC 9420 §7.3: encryption key is a valid public key.
	if err := s.CheckHPKEPublicKey(leaf.EncryptionKey); err != nil {
		return invalid("7.3", "leaf encryption key is not a valid public key")
	}
	// RFC 9420 §7.3: the leaf supports the group's version and suite.
	if !slices.Contains(leaf.Capabilities.Versions, format.MLS10) {
		return invalid("7.3", "leaf does not support mls10")
	}
	if !slices.Contains(leaf.Capabilities.CipherSuites, format.CipherSuite(s.ID())) {
		return invalid("7.3", "leaf does not support the group's cipher suite")
	}
	// RFC 9420 §7.3: the credential type is one the leaf supports
	// (basic is supported by every client, §5.3).
	if leaf.Credential.Type != format.CredentialBasic && !slices.Contains(leaf.Capabilities.Credentials, leaf.Credential.Type) {
		return invalid("7.3", "leaf credential type not in its capabilities")
	}
	// RFC 9420 §7.3: lifetime, for key package leaves, covers now.
	if checkLifetime && leaf.Source == format.LeafSourceKeyPackage {
		now := uint64(cfg.now().Unix())
		if now < leaf.Lifetime.NotBefore || now > leaf.Lifetime.NotAfter {
			return invalid("7.3", "key package lifetime does not cover the current time")
		}
	}
	// RFC 9420 §13.4: no duplicate extensions.
	if format.HasDuplicateExtensions(leaf.Extensions) {
		return invalid("13.4", "duplicate leaf extensions")
	}
	// RFC 9420 §7.3: every non-default extension of the leaf is listed in
	// its capabilities.
	for _, e := range leaf.Extensions {
		if !defaultExtension(e.Type) && !slices.Contains(leaf.Capabilities.Extensions, e.Type) {
			return invalid("7.3", "leaf uses an extension not in its capabilities")
		}
	}
	if lc != nil {
		if err := checkRequiredCapabilities(lc.extensions, leaf); err != nil {
			return err
		}
	}
	return nil
}

// checkRequiredCapabilities checks a leaf against the group's
// required_capabilities extension (RFC 9420 §11.1).
func checkRequiredCapabilities(groupExts []format.Extension, leaf *format.LeafNode) error {
	e := format.FindExtension(groupExts, format.ExtRequiredCapabilities)
	if e == nil {
		return nil
	}
	var rc format.RequiredCapabilities
	if err := codec.Unmarshal(e.Data, &rc); err != nil {
		return invalid("11.1", "malformed required_capabilities")
	}
	for _, t := range rc.Extensions {
		if !defaultExtension(t) && !slices.Contains(leaf.Capabilities.Extensions, t) {
			return invalid("11.1", "leaf lacks a required extension")
		}
	}
	for _, t := range rc.Proposals {
		if !defaultProposal(t) && !slices.Contains(leaf.Capabilities.Proposals, t) {
			return invalid("11.1", "leaf lacks a required proposal type")
		}
	}
	for _, t := range rc.Credentials {
		if !slices.Contains(leaf.Capabilities.Credentials, t) {
			return invalid("11.1", "leaf lacks a required credential type")
		}
	}
	return nil
}

// groupExtensionsSupported checks that every member supports every
// non-default group context extension (RFC 9420 §12.1.7, §11.1).
func groupExtensionsSupported(exts []format.Extension, leaf *format.LeafNode) bool {
	for _, e := range exts {
		if !defaultExtension(e.Type) && !slices.Contains(leaf.Capabilities.Extensions, e.Type) {
			return false
		}
	}
	return true
}
