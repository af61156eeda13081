// Package mlsinterop holds the live interoperability test between samizdat's
// Go MLS engine (package mls) and ts-mls, an independent TypeScript
// RFC 9420 implementation. The test spawns `node peer.mjs` from this
// directory and drives it over the line-delimited JSON protocol of
// PROTOCOL.md; README.md says how to run it and what it covers. The package
// has no non-test code.
package mlsinterop
