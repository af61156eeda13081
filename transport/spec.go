package transport

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Spec describes one transport endpoint: which transport, where to dial, and
// the transport's parameters (keys, secrets, domains). It is plain data so
// that links, QR codes and signed endpoint books can carry it; each transport
// package documents its parameters and builds its Dialer from a Spec.
//
// Its text form, returned by String and read by ParseSpec, is
//
//	name://host:port?key=value&key=value
//
// with keys sorted and values query-escaped, so one Spec has exactly one text
// form and that form can be signed. Parameters may hold secrets (tlsws's path
// secret, obfs4's node key): a Spec is a capability, never logged.
type Spec struct {
	Name   string            // transport name: "direct", "tlsws", "obfs4", "pt", ...
	Addr   string            // host:port the client opens its TCP connection to
	Params map[string]string // transport-specific parameters; nil when none
}

// Limits that keep a Spec small enough for a QR code and cheap to parse.
const (
	maxNameLen   = 32
	maxKeyLen    = 32
	maxSpecLen   = 4096
	maxParamsLen = 32
)

// ErrBadSpec is wrapped by every error about a malformed Spec.
var ErrBadSpec = errors.New("transport: malformed transport spec")

// Get returns the parameter key, or "" when it is absent.
func (s Spec) Get(key string) string { return s.Params[key] }

// Validate checks the name, the address and the parameter keys.
func (s Spec) Validate() error {
	if !validToken(s.Name, maxNameLen) {
		return fmt.Errorf("%w: name %q must be 1-%d of [a-z0-9-], starting with a letter", ErrBadSpec, s.Name, maxNameLen)
	}
	if err := validAddr(s.Addr); err != nil {
		return err
	}
	if len(s.Params) > maxParamsLen {
		return fmt.Errorf("%w: %d parameters, at most %d", ErrBadSpec, len(s.Params), maxParamsLen)
	}
	for k := range s.Params {
		if !validToken(k, maxKeyLen) {
			// The key is not secret; values are never echoed.
			return fmt.Errorf("%w: parameter key %q must be 1-%d of [a-z0-9-], starting with a letter", ErrBadSpec, k, maxKeyLen)
		}
	}
	return nil
}

// Check validates s, that its name is name, and that every parameter is one of
// known. Transport constructors call it so that a typo in a link is an error,
// not a silently ignored option.
func (s Spec) Check(name string, known ...string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Name != name {
		return fmt.Errorf("%w: spec is for transport %q, not %q", ErrBadSpec, s.Name, name)
	}
	for k := range s.Params {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%w: transport %q has no parameter %q", ErrBadSpec, name, k)
		}
	}
	return nil
}

// String returns the canonical text form. It does not validate; call
// Validate first when s comes from outside.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteString("://")
	b.WriteString(s.Addr)
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(s.Params[k]))
	}
	return b.String()
}

// ParseSpec reads the text form of a Spec. It rejects duplicate keys,
// malformed escapes and anything Validate rejects. Error messages never
// contain parameter values.
func ParseSpec(text string) (Spec, error) {
	if len(text) > maxSpecLen {
		return Spec{}, fmt.Errorf("%w: %d bytes, at most %d", ErrBadSpec, len(text), maxSpecLen)
	}
	name, rest, ok := strings.Cut(text, "://")
	if !ok {
		return Spec{}, fmt.Errorf("%w: no \"://\" after the transport name", ErrBadSpec)
	}
	addr, query, hasQuery := strings.Cut(rest, "?")
	s := Spec{Name: name, Addr: addr}
	if hasQuery {
		s.Params = make(map[string]string)
		for _, pair := range strings.Split(query, "&") {
			k, escaped, ok := strings.Cut(pair, "=")
			if !ok {
				return Spec{}, fmt.Errorf("%w: parameter without '='", ErrBadSpec)
			}
			v, err := url.QueryUnescape(escaped)
			if err != nil {
				return Spec{}, fmt.Errorf("%w: parameter %q is not query-escaped", ErrBadSpec, k)
			}
			if _, dup := s.Params[k]; dup {
				return Spec{}, fmt.Errorf("%w: parameter %q given twice", ErrBadSpec, k)
			}
			s.Params[k] = v
		}
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// validToken reports whether t is 1-max of [a-z0-9-] starting with a letter.
func validToken(t string, max int) bool {
	if t == "" || len(t) > max || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validAddr checks that addr is host:port with a non-empty host, a port in
// 1-65535, and no character that would break the text form.
func validAddr(addr string) error {
	if strings.ContainsAny(addr, "?&/#@ \t\r\n") {
		return fmt.Errorf("%w: address %q has a reserved character", ErrBadSpec, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q is not host:port", ErrBadSpec, addr)
	}
	if host == "" {
		return fmt.Errorf("%w: address %q has no host", ErrBadSpec, addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return fmt.Errorf("%w: address %q has a bad port", ErrBadSpec, addr)
	}
	return nil
}
