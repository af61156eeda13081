//go:build !js

package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
)

func testInvite(t *testing.T) Invite {
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	in := Invite{Server: ServerLink{Key: key.Public(), Addrs: []string{"127.0.0.1:7443"}}, Name: "ann"}
	in.Account[0] = 7
	return in
}

// TestAdversaryDamagedInvite: a one-character typo in an invite is caught
// when it is pasted, as a damaged link.
func TestAdversaryDamagedInvite(t *testing.T) {
	s := testInvite(t).String()
	if _, err := ParseInvite(s); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(s, "account=") + len("account=") + 3
	b := []byte(s)
	b[i] ^= 0x01
	_, err := ParseInvite(string(b))
	if !errors.Is(err, reach.ErrDamagedLink) {
		t.Fatalf("typo in the account key: %v", err)
	}
	// A link printed before checksums is still read.
	old, _ := reach.VerifyChecksum(s)
	if _, err := ParseInvite(old); err != nil {
		t.Errorf("an invite without checksum: %v", err)
	}
}

// TestWrongKindOfLink: a link of another kind names the command that
// takes it.
func TestWrongKindOfLink(t *testing.T) {
	in := testInvite(t)
	if _, err := ParseServerLink(in.String()); err == nil || !strings.Contains(err.Error(), "samizdat add LINK") {
		t.Errorf("an invite given as the server link: %v", err)
	}
	if _, err := ParseInvite(in.Server.String()); err == nil || !strings.Contains(err.Error(), "samizdat init --server LINK") {
		t.Errorf("a server link given as an invite: %v", err)
	}
	ch := ChannelLink{Name: "news", Server: in.Server}
	if _, err := ParseInvite(ch.String()); err == nil || !strings.Contains(err.Error(), "samizdat channel follow LINK") {
		t.Errorf("a channel link given as an invite: %v", err)
	}
	if _, err := ParseChannelLink(in.String()); err == nil || !strings.Contains(err.Error(), "samizdat add LINK") {
		t.Errorf("an invite given as a channel link: %v", err)
	}
	if _, err := ParseInvite("samizdat://relay?p=AAAA"); err == nil || !strings.Contains(err.Error(), "relay-add") {
		t.Errorf("a relay link given as an invite: %v", err)
	}
}

// FuzzParseLinks: any text given to the link parsers gets a link or an
// error, never a panic; a link that parses prints as one that parses to
// the same text.
func FuzzParseLinks(f *testing.F) {
	in := Invite{Server: ServerLink{Key: securechan.ServerPublic{1}, Addrs: []string{"127.0.0.1:7443"}}, Name: "ann"}
	f.Add(in.String())
	f.Add(in.Server.String())
	f.Add(ChannelLink{Server: in.Server, Name: "news"}.String())
	f.Add("samizdat://invite?account=AA")
	f.Fuzz(func(t *testing.T, s string) {
		if l, err := ParseServerLink(s); err == nil {
			if again, err := ParseServerLink(l.String()); err != nil || again.String() != l.String() {
				t.Fatalf("server link %q printed as %q, which parses to %v, %v", s, l.String(), again, err)
			}
		}
		if in, err := ParseInvite(s); err == nil {
			if again, err := ParseInvite(in.String()); err != nil || again.String() != in.String() {
				t.Fatalf("invite %q printed as %q, which parses to %v, %v", s, in.String(), again, err)
			}
		}
		if l, err := ParseChannelLink(s); err == nil {
			if again, err := ParseChannelLink(l.String()); err != nil || again.String() != l.String() {
				t.Fatalf("channel link %q printed as %q, which parses to %v, %v", s, l.String(), again, err)
			}
		}
	})
}
