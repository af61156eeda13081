// Package attach owns the format of end-to-end encrypted attachments
// (docs/spec/attachments.md): a file is padded (Padmé), split into
// fixed-size chunks, and each chunk is sealed with ChaCha20-Poly1305 under a
// fresh random per-file key, with its index and the file's chunk count bound
// in as associated data. A chunk is addressed by the SHA-256 of its
// ciphertext, so a server or relay stores and serves ciphertext it cannot
// read, and a reader verifies every chunk before using it.
//
// The small Attachment descriptor (key, chunk hashes, size, media type,
// file name, optional thumbnail and dimensions) travels inside an MLS
// application message; Marshal and Unmarshal are its strict codec.
//
// Sealer and Opener work one chunk at a time, so a file is never held whole
// in memory. attach does no network I/O and imports only the standard
// library and golang.org/x/crypto.
package attach
