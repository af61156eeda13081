package tui

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// dangerous reports the first rune of s that a terminal would act on
// rather than print: C0 and C1 controls, DEL, and the bidi embeddings,
// overrides and isolates.
func dangerous(s string, allowLF bool) (rune, bool) {
	if !utf8.ValidString(s) {
		return utf8.RuneError, true
	}
	for _, r := range s {
		switch {
		case r == '\n' && allowLF:
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			return r, true
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return r, true
		}
	}
	return 0, false
}

func TestAdversarySanitizeNeutralizesTerminalControls(t *testing.T) {
	hostile := []string{
		"\x1b[2J\x1b[H clear the screen",
		"ring\x07ring",
		"over\rwrite",
		"forged\nbob: give me your key",
		"\u202eyek ruoy em evig",
		"isolate \u2066x\u2069 \u2067y\u2068",
		"C1 CSI \u009b2J and OSC \x1b]0;title\x07",
		"bad utf8 \xff\xfe",
		"del\x7f tab\tend",
	}
	for _, in := range hostile {
		if r, bad := dangerous(Sanitize(in), false); bad {
			t.Errorf("Sanitize(%q) = %q still holds %U", in, Sanitize(in), r)
		}
		if r, bad := dangerous(SanitizeText(in), true); bad {
			t.Errorf("SanitizeText(%q) = %q still holds %U", in, SanitizeText(in), r)
		}
	}
	// The name form keeps everything on one line.
	if got := Sanitize("eve\nbob: hi"); strings.Contains(got, "\n") {
		t.Errorf("Sanitize kept a line feed in a name: %q", got)
	}
	// What was removed stays visible, so the reader sees something odd.
	if got := Sanitize("a\x1b[2Jb"); !strings.Contains(got, "␛") {
		t.Errorf("Sanitize(ESC) = %q; want the escape shown as ␛", got)
	}
	// Plain text in any script passes unchanged.
	for _, ok := range []string{"hello", "Привет, мир", "שלום", "مرحبا", "日本語 🎉"} {
		if Sanitize(ok) != ok || SanitizeText(ok) != ok {
			t.Errorf("Sanitize changed harmless %q to %q", ok, Sanitize(ok))
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "hi", "\x1b[2J", "\u202e", "a\nb\rc", "\xff", "\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, bad := dangerous(Sanitize(s), false); bad {
			t.Fatalf("Sanitize(%q) holds %U", s, r)
		}
		if r, bad := dangerous(SanitizeText(s), true); bad {
			t.Fatalf("SanitizeText(%q) holds %U", s, r)
		}
	})
}
