package reach

import (
	"errors"
	"strings"
	"testing"
)

// TestAdversaryTypoInLinkCaught: every one-character change of a
// checksummed link is refused as damaged, or fails to parse; none is
// accepted as another valid link.
func TestAdversaryTypoInLinkCaught(t *testing.T) {
	for name, l := range testLinks(t) {
		s := l.String()
		if !strings.Contains(s, "&c=") && !strings.Contains(s, "?c=") {
			t.Fatalf("%s: no checksum in %s", name, s)
		}
		if _, err := ParseLink(s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := len("samizdat://"); i < len(s); i++ {
			b := []byte(s)
			b[i] ^= 0x01
			got, err := ParseLink(string(b))
			if err == nil && got.String() != s {
				t.Fatalf("%s: a typo at %d was accepted: %s", name, i, b)
			}
		}
	}
}

func TestChecksumOldLinksStillRead(t *testing.T) {
	for name, l := range testLinks(t) {
		old, err := VerifyChecksum(l.String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseLink(old); err != nil {
			t.Errorf("%s: an old link without checksum: %v", name, err)
		}
	}
	if _, err := VerifyChecksum("samizdat://server?key=x&c=00000000"); !errors.Is(err, ErrDamagedLink) {
		t.Errorf("a wrong checksum: %v", err)
	}
	if s := AddChecksum("samizdat://relay"); !strings.Contains(s, "relay?c=") {
		t.Errorf("no query: %s", s)
	}
}

func FuzzVerifyChecksum(f *testing.F) {
	f.Add("samizdat://server?key=k&c=12345678")
	f.Add(AddChecksum("samizdat://invite?account=a&name=b"))
	f.Add("https://x/#relay?p=AA&c=zz")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := VerifyChecksum(s)
		if err == nil && len(out) > len(strings.TrimSpace(s)) {
			t.Fatalf("grew: %q -> %q", s, out)
		}
		if err == nil && out != strings.TrimSpace(s) {
			// A checksum was stripped: it must verify again once added.
			if again, err := VerifyChecksum(AddChecksum(out)); err != nil || again != out {
				t.Fatalf("round trip of %q: %q %v", out, again, err)
			}
		}
	})
}
