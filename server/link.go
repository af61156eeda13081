package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/samizdat-project/samizdat/securechan"
)

// Link is a server link: what a client needs to reach a server and pin its
// key. Its text form is
//
//	samizdat://server?key=<securechan key>&addr=<host:port>[&addr=<host:port>...]
//
// where <securechan key> is securechan.ServerPublic.String() ("sc1" and 43
// base64url characters) and each addr is a direct TCP address (a host name,
// an IPv4 address, or a bracketed IPv6 address, with a port), query-escaped
// except for ':', '[' and ']'.
// Parameters appear in that order in String's output. Parse ignores
// parameters it does not know, so that later versions (package reach: relays,
// transports, front domains, signed endpoint books) can add their own
// without breaking older clients; it rejects a link without exactly one key
// or without an address.
type Link struct {
	Key   securechan.ServerPublic
	Addrs []string // direct TCP addresses, host:port, in order of preference
}

const (
	linkScheme = "samizdat"
	linkHost   = "server"
)

// addrEscaper undoes the escaping of characters that are safe in a query
// value, so that "127.0.0.1:7443" and "[::1]:7443" stay readable.
var addrEscaper = strings.NewReplacer("%3A", ":", "%5B", "[", "%5D", "]")

// String returns the link's text form.
func (l Link) String() string {
	var b strings.Builder
	b.WriteString(linkScheme + "://" + linkHost + "?key=")
	b.WriteString(l.Key.String())
	for _, a := range l.Addrs {
		b.WriteString("&addr=")
		b.WriteString(addrEscaper.Replace(url.QueryEscape(a)))
	}
	return b.String()
}

// ParseLink parses the text form of a server link.
func ParseLink(s string) (Link, error) {
	var l Link
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return l, errors.New("server: parsing link: not a URL; copy the whole samizdat:// link")
	}
	if u.Scheme != linkScheme || u.Host != linkHost || (u.Path != "" && u.Path != "/") || u.User != nil {
		return l, fmt.Errorf("server: parsing link: it must start with %s://%s?; copy the whole link", linkScheme, linkHost)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return l, errors.New("server: parsing link: malformed parameters; copy the whole link")
	}
	keys := q["key"]
	if len(keys) != 1 {
		return l, fmt.Errorf("server: parsing link: it has %d server keys, needs exactly one; copy the whole link", len(keys))
	}
	if l.Key, err = securechan.ParseServerPublic(keys[0]); err != nil {
		return Link{}, fmt.Errorf("server: parsing link: %w", err)
	}
	for _, a := range q["addr"] {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return Link{}, fmt.Errorf("server: parsing link: address %q is not host:port", a)
		}
		l.Addrs = append(l.Addrs, a)
	}
	if len(l.Addrs) == 0 {
		return Link{}, errors.New("server: parsing link: it has no address; ask the server's operator for a complete link")
	}
	return l, nil
}
