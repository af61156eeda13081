package transporttest

import (
	"fmt"

	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
)

// ClientHello is a parsed TLS ClientHello with its JA3, JA3N and JA4
// fingerprints (methods of internal/tlsfingerprint.ClientHello).
type ClientHello = tlsfingerprint.ClientHello

// ParseClientHello reads a ClientHello from the first bytes a client sent:
// one or more TLS handshake records. It never panics; malformed or
// incomplete input and a duplicate extension (RFC 8446 §4.2) are errors.
func ParseClientHello(first []byte) (*ClientHello, error) {
	ch, err := tlsfingerprint.ParseRecords(first)
	if err != nil {
		return nil, fmt.Errorf("transporttest: %w", err)
	}
	seen := map[uint16]bool{}
	for _, e := range ch.Extensions {
		if seen[e.Type] {
			return nil, fmt.Errorf("transporttest: extension %d twice", e.Type)
		}
		seen[e.Type] = true
	}
	return ch, nil
}

// IsGREASE reports whether v is a GREASE value (RFC 8701).
func IsGREASE(v uint16) bool { return tlsfingerprint.IsGREASE(v) }
