package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
)

// ServerLink is what a client needs to reach a server and pin its key. Its
// text form is the server's (server/link.go, which the client may not
// import):
//
//	samizdat://server?key=<securechan key>&addr=<host:port>[&addr=...]
//
// Unknown parameters are ignored, so that later versions can add routes.
type ServerLink struct {
	Key   securechan.ServerPublic `json:"key"`
	Addrs []string                `json:"addrs"`
	// Reach is the whole link text when it carries more than key and
	// addresses (a book key, relay entries: package reach; reach.go), so
	// that it survives Init and travels on in invites.
	Reach string `json:"reach,omitempty"`
}

// String returns the link's text form, with its checksum
// (reach.AddChecksum, docs/spec/links.md).
func (l ServerLink) String() string {
	if l.Reach != "" {
		return l.Reach
	}
	return reach.AddChecksum(l.plain())
}

func (l ServerLink) plain() string {
	var b strings.Builder
	b.WriteString("samizdat://server?key=")
	b.WriteString(l.Key.String())
	for _, a := range l.Addrs {
		b.WriteString("&addr=")
		b.WriteString(url.QueryEscape(a))
	}
	return b.String()
}

// ParseServerLink parses a server link.
func ParseServerLink(s string) (ServerLink, error) {
	var l ServerLink
	q, err := linkQuery(s, "server", "server link", "copy the whole link the server printed")
	if err != nil {
		return l, err
	}
	if len(q["key"]) != 1 {
		return l, errors.New("client: parsing server link: it needs exactly one key; copy the whole link")
	}
	if l.Key, err = securechan.ParseServerPublic(q["key"][0]); err != nil {
		return ServerLink{}, fmt.Errorf("client: parsing server link: %w", err)
	}
	for _, a := range q["addr"] {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" || !validPort(port) {
			return ServerLink{}, fmt.Errorf("client: parsing server link: address %q is not host:port", a)
		}
		l.Addrs = append(l.Addrs, a)
	}
	if len(l.Addrs) == 0 {
		return ServerLink{}, errors.New("client: parsing server link: it has no address; ask the server's operator for a complete link")
	}
	if q.Has("book") || q.Has("p") {
		l.Reach = s // reach.go checks it
	}
	return l, nil
}

// sameServer reports whether two links pin the same server key.
func sameServer(a, b ServerLink) bool { return equalBytes(a.Key[:], b.Key[:]) }

// Invite is what a user hands to a contact: their account key, the server
// that holds their mailboxes, and a suggested name.
type Invite struct {
	Account AccountKey
	Server  ServerLink
	Name    string
}

// String returns the invite link:
//
//	samizdat://invite?account=<base64url key>&name=<name>&server=<server link>
func (in Invite) String() string {
	q := url.Values{}
	v := "samizdat://invite?account=" + base64.RawURLEncoding.EncodeToString(in.Account[:])
	if in.Name != "" {
		q.Set("name", in.Name)
		v += "&" + q.Encode()
	}
	return reach.AddChecksum(v + "&server=" + url.QueryEscape(in.Server.String()))
}

// ParseInvite parses an invite link.
func ParseInvite(s string) (Invite, error) {
	var in Invite
	q, err := linkQuery(s, "invite", "invite", "ask your contact to run 'samizdat invite' and copy the whole link")
	if err != nil {
		return in, err
	}
	key, err := base64.RawURLEncoding.DecodeString(q.Get("account"))
	if err != nil || len(key) != 32 {
		return in, errors.New("client: parsing invite: the account key is damaged; copy the whole link")
	}
	copy(in.Account[:], key)
	if in.Server, err = ParseServerLink(q.Get("server")); err != nil {
		return Invite{}, fmt.Errorf("client: parsing invite: %w", err)
	}
	in.Name = q.Get("name")
	return in, nil
}

// linkCommands names, for each kind of link, the command that takes it.
var linkCommands = map[string]string{
	"server":  "a server link: it goes to 'samizdat init --server LINK' (or 'samizdat device link --server LINK')",
	"invite":  "an invite link: add the person with 'samizdat add LINK'",
	"relay":   "a relay link: add it with 'samizdat relay-add LINK'",
	"channel": "a channel link: follow it with 'samizdat channel follow LINK'",
}

// LinkKind returns the kind of a samizdat link ("server", "invite",
// "relay", "channel"), or "" if it is none of them.
func LinkKind(s string) string {
	s = strings.TrimSpace(s)
	var body string
	switch {
	case strings.HasPrefix(s, "samizdat://"):
		body = strings.TrimPrefix(s, "samizdat://")
	case strings.HasPrefix(s, "https://"):
		_, body, _ = strings.Cut(s, "#")
	default:
		return ""
	}
	kind, _, _ := strings.Cut(body, "?")
	kind = strings.TrimSuffix(kind, "/")
	if _, ok := linkCommands[kind]; ok {
		return kind
	}
	return ""
}

// wrongKind says which command takes a link of another kind than want.
// linkQuery checks that s is a samizdat link of kind with its checksum
// intact and returns its parameters; errors name it as what, and a link
// of the wrong form gets hint (where a good one comes from).
func linkQuery(s, kind, what, hint string) (url.Values, error) {
	if err := wrongKind(s, kind); err != nil {
		return nil, fmt.Errorf("client: parsing %s: %w", what, err)
	}
	plain, err := reach.VerifyChecksum(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("client: parsing %s: %w", what, err)
	}
	u, err := url.Parse(plain)
	if err != nil || u.Scheme != "samizdat" || u.Host != kind || u.User != nil || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("client: parsing %s: it must start with samizdat://%s?; %s", what, kind, hint)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("client: parsing %s: malformed parameters; copy the whole link", what)
	}
	return q, nil
}

func wrongKind(s, want string) error {
	k := LinkKind(s)
	if k == "" || k == want {
		return nil
	}
	return fmt.Errorf("this is %s, not %s", linkCommands[k], strings.SplitN(linkCommands[want], ":", 2)[0])
}

func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n > 0
}
