package server_test

import (
	"strings"
	"testing"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
)

func TestLinkRoundTrip(t *testing.T) {
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, addrs := range [][]string{{"127.0.0.1:7443"}, {"example.org:443", "[2001:db8::1]:7443"}} {
		l := server.Link{Key: key.Public(), Addrs: addrs}
		s := l.String()
		if !strings.HasPrefix(s, "samizdat://server?key=sc1") || !strings.Contains(s, "&addr="+addrs[0]) {
			t.Fatalf("link %q", s)
		}
		got, err := server.ParseLink(s)
		if err != nil {
			t.Fatalf("ParseLink(%q): %v", s, err)
		}
		if got.Key != l.Key || strings.Join(got.Addrs, ",") != strings.Join(addrs, ",") || got.String() != s {
			t.Fatalf("round trip of %q gave %+v", s, got)
		}
	}
	// Unknown parameters are ignored (room for reach's extensions).
	l := server.Link{Key: key.Public(), Addrs: []string{"a.example:1"}}
	if got, err := server.ParseLink(l.String() + "&relay=xyz"); err != nil || got.String() != l.String() {
		t.Fatalf("extension parameter broke parsing: %v", err)
	}
}

func TestLinkRejects(t *testing.T) {
	key, _ := securechan.GenerateServerKey(nil)
	k := key.Public().String()
	for _, s := range []string{
		"", "https://server?key=" + k + "&addr=a:1", "samizdat://relay?key=" + k + "&addr=a:1",
		"samizdat://server?addr=a:1", "samizdat://server?key=" + k, "samizdat://server?key=" + k + "&key=" + k + "&addr=a:1",
		"samizdat://server?key=sc1AAAA&addr=a:1", "samizdat://server?key=" + k + "&addr=nohostport",
		"samizdat://server/x?key=" + k + "&addr=a:1",
	} {
		if _, err := server.ParseLink(s); err == nil {
			t.Errorf("ParseLink(%q) accepted it", s)
		}
	}
}
