// Package mls is samizdat's RFC 9420 (Messaging Layer Security) engine: the
// public API that the rest of samizdat uses for end-to-end encrypted groups.
//
// It owns the group state machine: identities and KeyPackages (§10), group
// creation (§11), proposals (§12.1), commits with their validation (§12.2,
// §12.4), Welcome and external joins (§12.4.3), ReInit and branch
// successor groups (§11.2, §11.3), message protection (§6, through
// mls/internal/framing) with late application messages of a bounded number
// of past epochs (§15.3), exporters (§8.5) and the serialization of a group's whole state so that a
// client survives a restart. It is deterministic: randomness and the clock
// are injected through Config, and it performs no I/O.
//
// The wire structures live in mls/internal/format and the cryptography in
// mls/internal/suite; this package only composes them. Where RFC 9420
// leaves a decision to the application (proposals of non-members, external
// joins) the application's GroupPolicy decides, refusing by default; keys
// are consumed only after a message decrypted and its signature verified;
// late messages are attributed with their own epoch's tree
// (docs/spec/mls-policy.md). Every validation
// check cites the RFC 9420 section it implements and fails with a
// *ValidationError naming that section. A message that fails to process
// leaves the group unchanged.
package mls
