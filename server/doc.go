// Package server owns the samizdat server: it accepts secure-channel
// sessions (securechan) on any net.Listener, speaks the wire protocol of
// docs/spec/wire.md on each, and keeps accounts, devices, key packages,
// mailboxes and the MLS Delivery Service's epoch counter in a Store that it
// declares here (store/sqlite implements it). It acknowledges a Send only
// once the Store says it is durable, pushes deliveries live to every online
// recipient in the process (an in-memory hub), rate-limits per device and
// per address, and exposes Prometheus metrics and structured logs that
// never carry a payload, a key or a secret.
//
// Link (link.go) is the server link (samizdat://...) that carries the
// server's public key and its address to clients.
package server
