// Package wire owns every message that crosses between a samizdat client and
// server inside the secure channel: the frame header, the request, response
// and push bodies, their limits, the protocol error codes, and a strict
// encoder and decoder for all of them: each message lists its fields once,
// in its code method, for a coder that writes or reads them (codec.go).
// The format is specified in docs/spec/wire.md; golden encodings in
// testdata/ pin it byte for byte.
//
// wire does no I/O and imports only the standard library. One frame is one
// secure-channel message; Decode rejects anything that Encode would not have
// produced (trailing bytes, unknown types or versions, bad booleans,
// oversize fields), and never allocates more than its input justifies.
package wire
