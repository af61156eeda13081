package fingerprint

import (
	"math/rand/v2"
	"testing"

	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
)

func mustParse(t *testing.T, rec []byte) *tlsfingerprint.ClientHello {
	t.Helper()
	h, err := tlsfingerprint.ParseRecords(rec)
	if err != nil {
		t.Fatalf("ParseRecords: %v", err)
	}
	return h
}

func TestMTProtoFakeTLSFingerprint(t *testing.T) {
	ja3s := map[string]bool{}
	for seed := uint64(0); seed < 50; seed++ {
		rec := MTProtoFakeTLSHello(rand.New(rand.NewPCG(seed, 7)), "www.example.com")
		if len(rec) != 517 {
			t.Fatalf("seed %d: %d bytes, want the client's fixed 517", seed, len(rec))
		}
		h := mustParse(t, rec)
		if got := h.JA4(); got != MTProtoJA4 {
			t.Fatalf("seed %d: JA4 %s, want %s", seed, got, MTProtoJA4)
		}
		if h.ServerName != "www.example.com" {
			t.Fatalf("SNI %q", h.ServerName)
		}
		ja3s[h.JA3()] = true
	}
	if len(ja3s) < 40 {
		t.Errorf("only %d distinct JA3 over 50 hellos; the client shuffles extensions, so JA3 should vary", len(ja3s))
	}
}
