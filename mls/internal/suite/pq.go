package suite

// The hybrid post-quantum suites. Both use the X-Wing KEM
// (ML-KEM-768 + X25519, HPKE KEM 0x647a from draft-ietf-hpke-pq, provided by
// crypto/hpke.MLKEM768X25519) with Ed25519 signatures. See
// docs/spec/mls-suites.md for where the code points come from.
const (
	// XWingAES128GCMSHA256Ed25519 is MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519
	// of draft-ietf-mls-pq-ciphersuites-06 (TBD1 there, with HKDF-SHA256 as
	// both the MLS and the HPKE KDF). IANA has not assigned it a value yet, so
	// samizdat uses one from the private-use range (RFC 9420 §17.1:
	// 0xF000-0xFFFF). It is samizdat's default suite.
	XWingAES128GCMSHA256Ed25519 ID = 0xF0A1

	// XWingAES256GCMSHA512Ed25519 is the X-Wing suite of ts-mls (its value 83),
	// X-Wing + HKDF-SHA512 + AES-256-GCM + SHA-512 + Ed25519. It is not in any
	// IETF document; samizdat implements it only to prove its hybrid code
	// against an independent implementation.
	XWingAES256GCMSHA512Ed25519 ID = 0x0053
)

// Default is the suite samizdat uses for its own groups.
const Default = XWingAES128GCMSHA256Ed25519

func postQuantumSuites() []*Suite {
	tsmls := newSuite(XWingAES256GCMSHA512Ed25519, "MLS_256_XWING_AES256GCM_SHA512_Ed25519", sha512Kind, aes256GCM, kemXWing, ed25519Scheme)
	tsmls.kem.(*stdScheme).shakeSeed = true
	return []*Suite{
		newSuite(XWingAES128GCMSHA256Ed25519, "MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519", sha256Kind, aes128GCM, kemXWing, ed25519Scheme),
		tsmls,
	}
}
