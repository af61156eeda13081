// Package channel owns the format of broadcast channels: the channel
// identity (an Ed25519 owner key; the channel id is its SHA-256), the
// owner-signed descriptor that names a channel, posts signed by the owner or
// by an admin the owner certified, edits, deletions and admin revocations,
// their canonical encodings, the verification of a post against the
// channel's key and current admin set, and a bounded cache of verified
// posts that relays and mirrors serve. It is pure: no I/O, no clock (times
// are passed in), only the standard library and package attach (the
// descriptor a media post carries).
//
// The format is specified in docs/spec/channels.md.
package channel
