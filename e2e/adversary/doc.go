// Package adversary is samizdat's adversary suite (docs/spec/authentication.md):
// a malicious server that speaks the real wire protocol (the real server
// over a Store that lies: it substitutes KeyPackages, rolls device lists
// back, records, drops, holds back, replays and injects mailbox messages)
// and malicious members that speak MLS and the wire protocol directly and
// forge credentials. Its tests, each named TestAdversary..., attack real
// clients and assert what their users see.
package adversary
