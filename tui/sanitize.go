package tui

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sanitize returns s made safe to print on a terminal as one line: every
// rune a terminal would act on instead of printing is replaced by a visible
// stand-in, so the reader sees that something odd was sent.
//
//   - C0 controls (ESC, BEL, CR, LF, ...) become their control pictures
//     (U+2400 + c: ␛ ␇ ␍ ␊), DEL becomes ␡, TAB a space;
//   - C1 controls (U+0080-U+009F, such as the 8-bit CSI U+009B) become
//     "<U+009B>";
//   - the bidi embeddings and overrides (U+202A-U+202E) and isolates
//     (U+2066-U+2069), which reorder the text after them, and the line and
//     paragraph separators (U+2028, U+2029) become "<U+202E>" and so on;
//   - invalid UTF-8 becomes U+FFFD.
//
// The same policy is in the CLI's printer (internal/cli); the lead unifies
// them at merge.
func Sanitize(s string) string { return sanitize(s, false) }

// SanitizeText is Sanitize for a message body: it keeps line feeds (the
// view indents the lines after the first, so a forged line cannot pass for
// another sender's) and makes everything else safe.
func SanitizeText(s string) string { return sanitize(s, true) }

func sanitize(s string, keepLF bool) string {
	if clean(s, keepLF) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		i += n
		switch {
		case r == '\n' && keepLF:
			b.WriteByte('\n')
		case r == '\t':
			b.WriteByte(' ')
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune('␡')
		case unsafeRune(r):
			fmt.Fprintf(&b, "<%U>", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clean reports whether s needs no change (the common case, no copy).
func clean(s string, keepLF bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && (c != '\n' || !keepLF) || c == 0x7f {
			return false
		}
		if c >= 0x80 {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 || unsafeRune(r) {
				return false
			}
			i += n - 1
		}
	}
	return true
}

// unsafeRune: the non-ASCII runes a terminal or the bidi algorithm acts on.
func unsafeRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || // C1 controls
		r >= 0x202a && r <= 0x202e || // bidi embeddings and overrides
		r >= 0x2066 && r <= 0x2069 || // bidi isolates
		r == 0x2028 || r == 0x2029 // line and paragraph separators
}
