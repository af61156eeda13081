package reach

import (
	"net/netip"
	"testing"
)

func TestNetworkID(t *testing.T) {
	a := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	home := networkID(a("192.168.1.23", "2001:db8:1:2::17"))
	tests := []struct {
		name  string
		addrs []netip.Addr
		same  bool
	}{
		{"another host on the same networks, other order", a("2001:db8:1:2::99", "192.168.1.200"), true},
		{"loopback and link-local do not count", a("192.168.1.23", "2001:db8:1:2::17", "127.0.0.1", "fe80::1", "::1"), true},
		{"another IPv4 network", a("10.0.0.5", "2001:db8:1:2::17"), false},
		{"mobile network", a("100.64.3.4"), false},
	}
	for _, tt := range tests {
		if got := networkID(tt.addrs); (got == home) != tt.same {
			t.Errorf("%s: id %q vs home %q, same=%v", tt.name, got, home, tt.same)
		}
	}
	if networkID(a("127.0.0.1", "fe80::1")) != "" {
		t.Error("only loopback/link-local should give the empty network")
	}
	if len(home) != 16 {
		t.Errorf("id %q: want 16 hex digits", home)
	}
	_ = LocalNetwork() // must not fail on this machine, whatever it returns
}
