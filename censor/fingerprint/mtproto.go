// Package fingerprint owns the censor lab's TLS fingerprints that are not
// generic: the fake-TLS ClientHello of Telegram's MTProto proxy client,
// whose fixed fingerprint Russia's TSPU blocks since April 2026, and its JA4
// denylist entry. Parsing hellos and computing JA3/JA4 is
// internal/tlsfingerprint's job.
package fingerprint

import (
	"math/rand/v2"
)

// MTProtoJA4 is the denylist entry for Telegram's MTProto proxy client in
// fake-TLS mode, computed from MTProtoFakeTLSHello (no published value was
// found; the test recomputes it). It equals the JA4 of FoxIO's worked example
// in JA4.md, a 2023-era Chrome: the client copied that Chrome's hello, so a
// JA4-only denylist also catches browsers of that generation.
const MTProtoJA4 = "t13d1516h2_8daaf6152771_e5627efa2ab1"

// MTProtoFakeTLSHello builds the first flight of Telegram's MTProto proxy
// client in fake-TLS mode ("ee" secrets), the way Telegram Desktop builds it
// (telegramdesktop/tdesktop, Telegram/SourceFiles/mtproto/details/
// mtproto_tls_socket.cpp, PrepareClientHelloRules): a fixed 517-byte record
// imitating a 2020s Chrome hello, with eight GREASE values, the extensions
// shuffled, an X25519 key share and padding to length. We could not find a
// published JA3/JA4 of this client, so the lab's denylist entry is computed
// from this builder (see fingerprint_test.go): because the extensions are
// shuffled its JA3 changes every connection, while its JA4 (which sorts them)
// is fixed — which is why a JA4 denylist catches it.
//
// Fingerprint-irrelevant parts differ from the real client: the 32-byte
// "random" (an HMAC of the secret and a timestamp there) and the key share
// (a valid curve point there) come from rng here.
func MTProtoFakeTLSHello(rng *rand.Rand, domain string) []byte {
	var grease [8]byte
	for i := range grease {
		grease[i] = byte(rng.Uint32())&0xf0 | 0x0a
	}
	for i := 0; i < len(grease); i += 2 {
		if grease[i] == grease[i+1] {
			grease[i+1] ^= 0x10
		}
	}
	g := func(i int) []byte { return []byte{grease[i], grease[i]} }
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	scope := func(b []byte) []byte { return cat([]byte{byte(len(b) >> 8), byte(len(b))}, b) }

	out := cat([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
		make([]byte, 32), // digest position
		[]byte{0x20}, random(32),
		[]byte{0x00, 0x20}, g(0),
		[]byte("\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30\xcc\xa9"+
			"\xcc\xa8\xc0\x13\xc0\x14\x00\x9c\x00\x9d\x00\x2f\x00\x35\x01\x00"+
			"\x01\x93"),
		g(2), []byte{0x00, 0x00})
	exts := [][]byte{
		cat([]byte{0x00, 0x00}, scope(scope(cat([]byte{0x00}, scope([]byte(domain)))))),
		[]byte("\x00\x05\x00\x05\x01\x00\x00\x00\x00"),
		cat([]byte("\x00\x0a\x00\x0a\x00\x08"), g(4), []byte("\x00\x1d\x00\x17\x00\x18")),
		[]byte("\x00\x0b\x00\x02\x01\x00"),
		[]byte("\x00\x0d\x00\x12\x00\x10\x04\x03\x08\x04\x04\x01\x05\x03" +
			"\x08\x05\x05\x01\x08\x06\x06\x01"),
		[]byte("\x00\x10\x00\x0e\x00\x0c\x02\x68\x32\x08\x68\x74\x74\x70\x2f\x31\x2e\x31"),
		[]byte("\x00\x12\x00\x00"),
		[]byte("\x00\x17\x00\x00"),
		[]byte("\x00\x1b\x00\x03\x02\x00\x02"),
		[]byte("\x00\x23\x00\x00"),
		cat([]byte("\x00\x2b\x00\x07\x06"), g(6), []byte("\x03\x04\x03\x03")),
		[]byte("\x00\x2d\x00\x02\x01\x01"),
		cat([]byte("\x00\x33\x00\x2b\x00\x29"), g(4), []byte("\x00\x01\x00\x00\x1d\x00\x20"), random(32)),
		[]byte("\x44\x69\x00\x05\x00\x03\x02\x68\x32"),
		[]byte("\xff\x01\x00\x01\x00"),
	}
	rng.Shuffle(len(exts), func(i, j int) { exts[i], exts[j] = exts[j], exts[i] })
	for _, e := range exts {
		out = append(out, e...)
	}
	out = cat(out, g(3), []byte("\x00\x01\x00\x00\x15"))
	const helloLength = 517
	pad := helloLength - 2 - len(out)
	if pad < 0 { // a domain too long for the fixed length: the client errors out
		return nil
	}
	return cat(out, scope(make([]byte, pad)))
}
