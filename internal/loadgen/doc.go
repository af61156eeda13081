// Package loadgen holds the load generators behind 'samizdat bench': many
// devices sending opaque Sends (durable sends per second and latency,
// pipelined or paced), receivers that log every Deliver (the crash test's
// witness), idle sessions that measure the server's memory per session,
// and the channel fanout benchmark against Centrifugo as a peer.
//
// The traffic is opaque random payloads: the server only ever sees opaque
// bytes (MLS ciphertext in real use), so the load generators need no MLS.
// Only internal/cli imports this package (layout_test.go); it prints
// nothing to stdout: results are values the CLI prints.
package loadgen
