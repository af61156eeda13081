package reach

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
)

// Link checksums (docs/spec/links.md). Every samizdat link this version
// prints ends in "&c=<8 hex digits>" (or "?c=" when it has no other
// parameter): the first 4 bytes of SHA-256("samizdat link v1\x00" ||
// body), where body is the link from its kind ("server?", "invite?",
// "relay?", "channel?") up to, not including, "&c=". A typo anywhere in
// a link is then caught when it is pasted, not later as a server that
// "cannot be reached" or a contact that never answers.
//
// A link without "c" (printed before checksums) is still read: this is a
// typo check, not an authentication (the keys inside are what pin the
// server and the contact).

// ErrDamagedLink: the link's checksum does not match its text.
var ErrDamagedLink = errors.New("the link is damaged (its checksum does not match): a character was changed, added or lost; copy the whole link again")

const checksumParam = "c="

func linkChecksum(body string) string {
	h := sha256.Sum256([]byte("samizdat link v1\x00" + body))
	return hex.EncodeToString(h[:4])
}

// linkBody is the part of a link the checksum covers: after "scheme://"
// or after the "#" of an https link.
func linkBody(s string) string {
	if _, frag, ok := strings.Cut(s, "#"); ok && strings.HasPrefix(s, "https://") {
		return frag
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		return rest
	}
	return s
}

// AddChecksum appends the checksum parameter to a link's text.
func AddChecksum(link string) string {
	sep := "&"
	if !strings.Contains(linkBody(link), "?") {
		sep = "?"
	}
	return link + sep + checksumParam + linkChecksum(linkBody(link))
}

// VerifyChecksum checks and removes a link's checksum parameter: the link
// without it, or ErrDamagedLink. A link without one is returned as is.
func VerifyChecksum(link string) (string, error) {
	link = strings.TrimSpace(link)
	i := strings.LastIndex(link, "&"+checksumParam)
	if j := strings.LastIndex(link, "?"+checksumParam); j > i {
		i = j
	}
	if i < 0 {
		return link, nil // an old link, without checksum
	}
	got := link[i+1+len(checksumParam):]
	stripped := link[:i]
	if strings.ContainsAny(got, "&#?") {
		return link, nil // "c=" was some other value's text; no checksum at the end
	}
	want := linkChecksum(linkBody(stripped))
	if len(got) != len(want) || subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) != 1 {
		return "", ErrDamagedLink
	}
	return stripped, nil
}
