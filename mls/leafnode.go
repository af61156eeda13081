package mls

import (
	"errors"
	"slices"
	"time"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/format"
	"github.com/samizdat-project/samizdat/mls/internal/suite"
	"github.com/samizdat-project/samizdat/mls/internal/tree"
)

// This file holds the leaf and capability checks the group adds to those
// of mls/internal/tree, which owns the per-leaf checks of RFC 9420 §7.3.

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

// validateKeyPackageLeaf checks the leaf node of a KeyPackage outside any
// group (RFC 9420 §10.1: the leaf is valid per §7.3) with the tree
// package's leaf checks; now, if not zero, is the time for the lifetime
// check; checkCred, if set, is the Authentication Service's check.
func validateKeyPackageLeaf(s *suite.Suite, leaf *format.LeafNode, now time.Time, checkCred func(*format.Credential, []byte) error) error {
	// RFC 9420 §7.2 / §10.1: the leaf supports the version and cipher
	// suite the KeyPackage is for.
	if !slices.Contains(leaf.Capabilities.Versions, format.MLS10) {
		return invalid("7.2", "leaf does not support mls10")
	}
	if !slices.Contains(leaf.Capabilities.CipherSuites, format.CipherSuite(s.ID())) {
		return invalid("7.2", "leaf does not support the key package's cipher suite")
	}
	// RFC 9420 §7.3: signature, capabilities, lifetime, extensions and
	// encryption key, checked as for a one-leaf tree.
	if err := tree.New(s, leaf).Validate(nil, &tree.LeafPolicy{Now: now, ValidateCredential: checkCred}); err != nil {
		return leafErr("7.3", "key package leaf node", err)
	}
	return nil
}

// leafErr wraps a tree check failure, naming a bad signature with
// ErrBadSignature.
func leafErr(section, reason string, err error) error {
	if errors.Is(err, tree.ErrLeafSignature) {
		return invalidErr(section, reason, ErrBadSignature)
	}
	return invalidErr(section, reason, err)
}

// requiredCapabilities decodes a required_capabilities extension among
// exts, or returns nil (RFC 9420 §11.1).
func requiredCapabilities(exts []format.Extension) (*format.RequiredCapabilities, error) {
	e := format.FindExtension(exts, format.ExtRequiredCapabilities)
	if e == nil {
		return nil, nil
	}
	var rc format.RequiredCapabilities
	if err := codec.Unmarshal(e.Data, &rc); err != nil {
		return nil, invalid("11.1", "malformed required_capabilities")
	}
	return &rc, nil
}

// checkRequiredCapabilities checks a leaf against the required_capabilities
// extension among groupExts (RFC 9420 §11.1).
func checkRequiredCapabilities(groupExts []format.Extension, leaf *format.LeafNode) error {
	rc, err := requiredCapabilities(groupExts)
	if err != nil || rc == nil {
		return err
	}
	caps := &leaf.Capabilities
	for _, t := range rc.Extensions {
		if !supportsExtension(caps, t) {
			return invalid("11.1", "leaf lacks a required extension")
		}
	}
	for _, t := range rc.Proposals {
		if !supportsProposal(caps, t) {
			return invalid("11.1", "leaf lacks a required proposal type")
		}
	}
	for _, t := range rc.Credentials {
		if !slices.Contains(caps.Credentials, t) {
			return invalid("11.1", "leaf lacks a required credential type")
		}
	}
	return nil
}

// supportsExtension reports whether caps covers extension type t
// (RFC 9420 §7.2: default types are implied).
func supportsExtension(caps *format.Capabilities, t format.ExtensionType) bool {
	return defaultExtension(t) || slices.Contains(caps.Extensions, t)
}

// supportsProposal reports whether caps covers proposal type t
// (RFC 9420 §7.2: default types are implied).
func supportsProposal(caps *format.Capabilities, t format.ProposalType) bool {
	return defaultProposal(t) || slices.Contains(caps.Proposals, t)
}
