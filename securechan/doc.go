// Package securechan owns the encrypted, authenticated channel between a
// samizdat client device and the server, over any net.Conn.
//
// The handshake is Noise_IK_25519_ChaChaPoly_SHA256 (github.com/flynn/noise)
// with the server's static X25519 key pinned by the client, plus an
// ML-KEM-768 encapsulation carried inside the encrypted handshake payloads.
// The transport keys are derived with HKDF-SHA256 from the Noise split keys,
// the handshake hash and the ML-KEM shared secret, so the session stays
// confidential if either X25519 or ML-KEM-768 holds. The client device proves
// its Ed25519 device key by signing the session transcript in its first
// record. The server rejects replayed first messages with a timestamp window
// and a bounded cache of recently seen handshake ephemerals.
//
// After the handshake, Conn carries messages (Send/Recv, up to
// MaxMessageSize each) as length-prefixed records with optional padding,
// sealed with AES-256-GCM when the client offers it and both ends have AES
// hardware, else ChaCha20-Poly1305 (the offer and the choice travel in the
// authenticated handshake payloads); NetConn adapts it to a byte stream.
//
// The construction, the wire layout and the security argument are in
// docs/spec/securechan.md.
package securechan
