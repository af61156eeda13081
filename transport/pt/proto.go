package pt

import (
	"fmt"
	"sort"
	"strings"
)

// This file is the parent side of the managed-proxy protocol of the Tor
// Pluggable Transport Specification, version 1 (pt-spec.txt): the lines a PT
// child prints on stdout, and the argument encodings the parent writes.
// goptlib implements the child side; its parsers are unexported, so the
// parent side is here.

// ptLine is one parsed stdout line: a keyword and its space-separated args.
type ptLine struct {
	keyword string
	args    []string
}

// parseLine splits a stdout line (pt-spec §3.3: "<keyword> <args>"). Lines
// are US-ASCII without NUL; anything else is still split, never rejected: the
// parent ignores lines it does not understand (pt-spec §3.3).
func parseLine(s string) ptLine {
	s = strings.TrimRight(s, "\r")
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return ptLine{}
	}
	return ptLine{keyword: fields[0], args: fields[1:]}
}

// rest returns the args from i on, joined by spaces (error messages).
func (l ptLine) rest(i int) string {
	if i >= len(l.args) {
		return ""
	}
	return strings.Join(l.args[i:], " ")
}

// backslashEscape escapes '\' and every byte of set with a backslash.
func backslashEscape(s, set string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || strings.IndexByte(set, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sortedKeys returns m's keys in order, so encodings are deterministic.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// encodeClientArgs encodes per-connection arguments (pt-spec §3.5): "k=v"
// pairs joined by ';', with backslash, '=' and ';' escaped.
func encodeClientArgs(args map[string]string) string {
	pairs := make([]string, 0, len(args))
	for _, k := range sortedKeys(args) {
		pairs = append(pairs, backslashEscape(k, "=;")+"="+backslashEscape(args[k], "=;"))
	}
	return strings.Join(pairs, ";")
}

// socksCredentials splits encoded client args into the SOCKS5 username and
// password (pt-spec §3.5): the first 255 bytes go in the username, the rest
// in the password; with no rest, the password is a single NUL byte. It fails
// when the args exceed the 510 bytes that RFC 1929 can carry.
func socksCredentials(encoded string) (user, pass []byte, err error) {
	if encoded == "" {
		// RFC 1929 needs a non-empty username; tor sends a NUL for both.
		return []byte{0}, []byte{0}, nil
	}
	if len(encoded) > 2*255 {
		return nil, nil, fmt.Errorf("pt: %d bytes of transport arguments, SOCKS5 carries at most 510", len(encoded))
	}
	if len(encoded) <= 255 {
		return []byte(encoded), []byte{0}, nil
	}
	return []byte(encoded[:255]), []byte(encoded[255:]), nil
}

// encodeServerOptions encodes TOR_PT_SERVER_TRANSPORT_OPTIONS for one method
// (pt-spec §3.2.3): "method:k=v" items joined by ';', with ':', ';', '=' and
// backslash escaped.
func encodeServerOptions(method string, opts map[string]string) string {
	items := make([]string, 0, len(opts))
	m := backslashEscape(method, ":;=")
	for _, k := range sortedKeys(opts) {
		items = append(items, m+":"+backslashEscape(k, ":;=")+"="+backslashEscape(opts[k], ":;="))
	}
	return strings.Join(items, ";")
}

// parseSmethodArgs decodes the value of an SMETHOD line's "ARGS:" option
// (pt-spec §3.3.3): "k=v" pairs joined by ',', where '=', ',' and backslash
// are escaped with a backslash. A key given twice keeps its first value.
func parseSmethodArgs(s string) (map[string]string, error) {
	out := make(map[string]string)
	if s == "" {
		return out, nil
	}
	var key, cur strings.Builder
	inValue := false
	flush := func() error {
		if !inValue || key.Len() == 0 {
			return fmt.Errorf("pt: SMETHOD ARGS item without key=value")
		}
		if _, dup := out[key.String()]; !dup {
			out[key.String()] = cur.String()
		}
		key.Reset()
		cur.Reset()
		inValue = false
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i >= len(s) {
				return nil, fmt.Errorf("pt: SMETHOD ARGS end in a lone backslash")
			}
			cur.WriteByte(s[i])
		case c == '=' && !inValue:
			key.WriteString(cur.String())
			cur.Reset()
			inValue = true
		case c == ',':
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(c)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
