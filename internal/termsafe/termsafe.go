// Package termsafe makes text from the network safe to print on a
// terminal, and holds the one rule for the names users give contacts,
// groups and themselves.
//
// A contact controls the bytes of their messages, their suggested name
// and the names of groups they create. Printed raw, ESC and the other C0
// and C1 controls drive the reader's terminal (colours, cursor moves,
// window titles, on some terminals worse); CR and LF start a line the
// contact wrote to look like ours ("bob: send me your passphrase");
// bidirectional overrides (U+202E and friends) reorder what follows.
// String escapes all of them visibly, so that one message is always one
// line and what is shown is what was sent.
package termsafe

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every character that could act on a terminal or
// reorder the line escaped visibly:
//
//   - C0 controls, DEL and C1 controls as \n, \r, \t, \e (ESC), \a (BEL)
//     or \xHH / \u00HH;
//   - Unicode format characters (category Cf: the bidi embeddings,
//     overrides and isolates U+202A..U+202E and U+2066..U+2069, the
//     marks U+200E, U+200F, U+061C, zero-width characters) and the line
//     and paragraph separators U+2028, U+2029 as \u{XXXX};
//   - invalid UTF-8 as \xHH;
//   - a backslash as \\, so that an escape in the output was made here.
//
// Printable text, in any script, is unchanged.
func String(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == 0x1b:
			b.WriteString(`\e`)
		case r == 0x07:
			b.WriteString(`\a`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\u%04x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u{%04x}`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune reports the characters above U+00A0 that String escapes.
func unsafeRune(r rune) bool {
	return unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029 || !unicode.IsPrint(r) && !unicode.IsSpace(r) || r == 0x85
}

// isPlain reports whether s needs no escaping (the common case: printable
// ASCII).
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// MaxName is the longest name, in bytes.
const MaxName = 64

// ErrBadName is the error of every name that breaks the rule.
var ErrBadName = errors.New("a name is 1 to 64 bytes of letters, digits, punctuation or symbols: no spaces, no slashes, no control or invisible characters, and not starting with '-'")

// ValidName is the one rule for the names of contacts, groups and users
// (init --name, add --name, a contact's suggested name, group names): 1
// to MaxName bytes of valid UTF-8, printable, without spaces (so that a
// name is one argument), slashes or backslashes, without characters that
// String would escape, not starting with '-' (it would read as a flag).
func ValidName(s string) error {
	if s == "" || len(s) > MaxName || !utf8.ValidString(s) || strings.HasPrefix(s, "-") {
		return ErrBadName
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			return ErrBadName
		}
	}
	if String(s) != s {
		return ErrBadName
	}
	return nil
}
