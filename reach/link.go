package reach

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"

	"github.com/samizdat-project/samizdat/securechan"
)

// Link is what an invite link, a relay link or a QR code carries: a server
// identity and ways to reach it.
//
// Text form (the successor of server.Link, which it stays compatible with):
//
//	samizdat://server?key=<sc1…>&addr=<host:port>…&book=<sb1…>&p=<payload>
//	samizdat://relay?p=<payload>
//	https://<any host>/<any path>#server?key=…    (same query after the '#')
//
// key is the securechan server key (securechan.ServerPublic.String), each
// addr a direct TCP address, query-escaped, book the Ed25519 book key
// (BookKey.String), and p the entries in compact binary, unpadded base64url:
//
//	u8 format (1) | u16-len [ signed entry ... ] | u16-len [ u16-len entry ... ]
//
// with signed entries and entries encoded as in the endpoint book. A link
// with a key is a "server" link; one without is a "relay" link, whose entries
// are checked against the server the client already pins. server.ParseLink
// reads key and addr and ignores the rest, so an old client still joins.
//
// The https form puts everything in the fragment, which browsers never send:
// the web server that hosts the landing page learns nothing of the payload.
type Link struct {
	Chan     securechan.ServerPublic // zero in a relay link
	Book     BookKey                 // zero if absent
	Addrs    []string                // direct TCP addresses, in order of preference
	Entries  []SignedEntry           // server-signed entries
	Unsigned []Entry                 // entries nobody signed (a volunteer's relay)
}

const (
	linkScheme     = "samizdat"
	linkHostServer = "server"
	linkHostRelay  = "relay"
	linkFormat     = 1
	maxLinkLen     = 8192
)

// ServerID returns the identity the link pins, and whether it has both keys.
func (l Link) ServerID() (ServerID, bool) {
	return ServerID{Chan: l.Chan, Book: l.Book}, !chanZero(l.Chan) && !l.Book.IsZero()
}

// String returns the samizdat:// form.
func (l Link) String() string { return AddChecksum(linkScheme + "://" + l.body()) }

// HTTPS returns the https form with base (such as
// "https://samizdat.example/join") before the fragment. base must not have a
// fragment of its own.
func (l Link) HTTPS(base string) string {
	return AddChecksum(strings.TrimSuffix(base, "#") + "#" + l.body())
}

func (l Link) body() string {
	var b strings.Builder
	if chanZero(l.Chan) {
		b.WriteString(linkHostRelay + "?")
	} else {
		b.WriteString(linkHostServer + "?key=" + l.Chan.String())
		for _, a := range l.Addrs {
			b.WriteString("&addr=" + url.QueryEscape(a))
		}
		if !l.Book.IsZero() {
			b.WriteString("&book=" + l.Book.String())
		}
		b.WriteString("&")
	}
	if len(l.Entries) > 0 || len(l.Unsigned) > 0 || chanZero(l.Chan) {
		b.WriteString("p=" + base64.RawURLEncoding.EncodeToString(l.payload()))
	}
	return strings.TrimSuffix(b.String(), "&")
}

func (l Link) payload() []byte {
	var b cryptobyte.Builder
	b.AddUint8(linkFormat)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, se := range l.Entries {
			addSigned(b, se)
		}
	})
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range l.Unsigned {
			addUnsigned(b, e)
		}
	})
	out, err := b.Bytes()
	if err != nil {
		// Only an oversized link gets here; an empty payload makes the
		// parser fail loudly instead of carrying half the entries.
		return nil
	}
	return out
}

// Validate checks every field.
func (l Link) Validate() error {
	if chanZero(l.Chan) && (len(l.Addrs) > 0 || !l.Book.IsZero()) {
		return fmt.Errorf("%w: a relay link carries no server addresses or book key", ErrMalformed)
	}
	if !chanZero(l.Chan) && len(l.Addrs) == 0 && len(l.Entries) == 0 && len(l.Unsigned) == 0 {
		return fmt.Errorf("%w: a server link needs an address or an entry", ErrMalformed)
	}
	if chanZero(l.Chan) && len(l.Entries) == 0 && len(l.Unsigned) == 0 {
		return fmt.Errorf("%w: a relay link needs an entry", ErrMalformed)
	}
	for _, a := range l.Addrs {
		if err := validLinkAddr(a); err != nil {
			return err
		}
	}
	for _, se := range l.Entries {
		if err := se.Entry.Validate(); err != nil {
			return err
		}
	}
	for _, e := range l.Unsigned {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	if len(l.payload()) == 0 {
		return fmt.Errorf("%w: too many entries for one link", ErrMalformed)
	}
	return nil
}

func validLinkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || port == "" || strings.ContainsAny(a, "&#? \t\r\n") {
		return fmt.Errorf("%w: address %q is not host:port", ErrMalformed, a)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%w: address %q has no valid port number", ErrMalformed, a)
	}
	return nil
}

// ParseLink reads any of the text forms. It checks the format but no
// signature: Cache.AddLink verifies signed entries against the pinned server,
// and a server link's keys become the pin only when the user accepts it.
// Unknown query parameters are ignored, for later versions.
func ParseLink(s string) (Link, error) {
	l, err := parseLink(strings.TrimSpace(s))
	if err != nil {
		return Link{}, fmt.Errorf("reach: parsing link: %w", err)
	}
	return l, nil
}

var errNotLink = errors.New("it must start with samizdat://server, samizdat://relay or be an https link with #server or #relay; copy the whole link")

func parseLink(s string) (Link, error) {
	var l Link
	if len(s) > maxLinkLen {
		return l, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(s), maxLinkLen)
	}
	s, err := VerifyChecksum(s) // checksum.go
	if err != nil {
		return l, err
	}
	var body string
	switch {
	case strings.HasPrefix(s, linkScheme+"://"):
		body = strings.TrimPrefix(s, linkScheme+"://")
	case strings.HasPrefix(s, "https://"):
		_, frag, ok := strings.Cut(s, "#")
		if !ok {
			return l, errNotLink
		}
		body = frag
	default:
		return l, errNotLink
	}
	host, rawQuery, _ := strings.Cut(body, "?")
	host = strings.TrimSuffix(host, "/")
	if host != linkHostServer && host != linkHostRelay {
		return l, errNotLink
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return l, fmt.Errorf("%w: malformed parameters; copy the whole link", ErrMalformed)
	}
	if host == linkHostServer {
		keys := q["key"]
		if len(keys) != 1 {
			return l, fmt.Errorf("%w: %d server keys, need exactly one; copy the whole link", ErrMalformed, len(keys))
		}
		if l.Chan, err = securechan.ParseServerPublic(keys[0]); err != nil {
			return Link{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		for _, a := range q["addr"] {
			if err := validLinkAddr(a); err != nil {
				return Link{}, err
			}
			l.Addrs = append(l.Addrs, a)
		}
		switch bk := q["book"]; len(bk) {
		case 0:
		case 1:
			if l.Book, err = ParseBookKey(bk[0]); err != nil {
				return Link{}, err
			}
		default:
			return Link{}, fmt.Errorf("%w: more than one book key", ErrMalformed)
		}
	} else if len(q["key"]) > 0 || len(q["addr"]) > 0 || len(q["book"]) > 0 {
		return Link{}, fmt.Errorf("%w: a relay link carries no server key, address or book key", ErrMalformed)
	}
	ps := q["p"]
	switch {
	case len(ps) > 1:
		return Link{}, fmt.Errorf("%w: more than one payload", ErrMalformed)
	case len(ps) == 0 && host == linkHostRelay:
		return Link{}, fmt.Errorf("%w: relay link without entries; copy the whole link", ErrMalformed)
	case len(ps) == 1:
		raw, err := base64.RawURLEncoding.Strict().DecodeString(ps[0])
		if err != nil {
			return Link{}, fmt.Errorf("%w: payload is not base64url; copy the whole link", ErrMalformed)
		}
		if err := l.readPayload(raw); err != nil {
			return Link{}, err
		}
	}
	if host == linkHostRelay && len(l.Entries) == 0 && len(l.Unsigned) == 0 {
		return Link{}, fmt.Errorf("%w: relay link without entries; copy the whole link", ErrMalformed)
	}
	if host == linkHostServer && len(l.Addrs) == 0 && len(l.Entries) == 0 && len(l.Unsigned) == 0 {
		return Link{}, fmt.Errorf("%w: it has no address; ask the server's operator for a complete link", ErrMalformed)
	}
	return l, nil
}

func (l *Link) readPayload(raw []byte) error {
	s := cryptobyte.String(raw)
	var format uint8
	var signed, unsigned cryptobyte.String
	if !s.ReadUint8(&format) {
		return fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	if format != linkFormat {
		return fmt.Errorf("%w: link format %d, this client reads %d; update samizdat", ErrMalformed, format, linkFormat)
	}
	if !s.ReadUint16LengthPrefixed(&signed) || !s.ReadUint16LengthPrefixed(&unsigned) || !s.Empty() {
		return fmt.Errorf("%w: truncated payload", ErrMalformed)
	}
	for !signed.Empty() {
		se, err := readSigned(&signed)
		if err != nil {
			return err
		}
		l.Entries = append(l.Entries, se)
	}
	for !unsigned.Empty() {
		e, err := readUnsigned(&unsigned)
		if err != nil {
			return err
		}
		l.Unsigned = append(l.Unsigned, e)
	}
	return nil
}

func chanZero(k securechan.ServerPublic) bool { return k == securechan.ServerPublic{} }
