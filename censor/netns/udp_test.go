package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestComplementRanges(t *testing.T) {
	pp := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		allow []netip.Prefix
		want  string
	}{
		{nil, "[[0.0.0.0 255.255.255.255]]"},
		{pp("198.19.0.0/16"), "[[0.0.0.0 198.18.255.255] [198.20.0.0 255.255.255.255]]"},
		{pp("198.19.0.0/16", "10.0.0.0/8"), "[[0.0.0.0 9.255.255.255] [11.0.0.0 198.18.255.255] [198.20.0.0 255.255.255.255]]"},
		{pp("0.0.0.0/1", "128.0.0.0/1"), "[]"},
		{pp("0.0.0.0/8", "0.0.0.0/16"), "[[1.0.0.0 255.255.255.255]]"},
		{pp("255.255.255.0/24"), "[[0.0.0.0 255.255.254.255]]"},
	} {
		if got := fmt.Sprint(complementRanges(tc.allow)); got != tc.want {
			t.Errorf("complement of %v = %s, want %s", tc.allow, got, tc.want)
		}
	}
}

// TestBlockUDP: after BlockUDP a client's UDP datagrams to a host outside
// the allowed ranges are dropped; to an allowed host they pass.
func TestBlockUDP(t *testing.T) {
	needRoot(t)
	allowed := netip.MustParseAddr("198.19.0.2")
	other := netip.MustParseAddr("198.18.64.2")
	topo, err := New([]NodeSpec{
		{Name: "alice", Role: Client, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.10")}},
		{Name: "front", Role: Host, Addrs: []netip.Addr{allowed}},
		{Name: "foreign", Role: Host, Addrs: []netip.Addr{other}},
	}, 15001)
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	echo := func(node string) {
		var pc net.PacketConn
		err := topo.Do(node, func() (err error) { pc, err = net.ListenPacket("udp4", "0.0.0.0:443"); return })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			b := make([]byte, 1500)
			for {
				n, a, err := pc.ReadFrom(b)
				if err != nil {
					return
				}
				pc.WriteTo(b[:n], a)
			}
		}()
	}
	echo("front")
	echo("foreign")
	roundTrip := func(to netip.Addr) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := topo.DialContext(ctx, "alice", "udp4", netip.AddrPortFrom(to, 443).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write([]byte("quic-ish"))
		b := make([]byte, 64)
		n, err := c.Read(b)
		return err == nil && string(b[:n]) == "quic-ish"
	}
	if !roundTrip(allowed) || !roundTrip(other) {
		t.Fatal("UDP does not pass before the block")
	}
	if err := topo.BlockUDP([]netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	if roundTrip(other) {
		t.Error("UDP to a non-allowlisted host passed the block")
	}
	if !roundTrip(allowed) {
		t.Error("UDP to an allowlisted host was blocked")
	}
	if err := topo.Unblock(); err != nil {
		t.Fatal(err)
	}
	if !roundTrip(other) {
		t.Error("UDP still blocked after Unblock")
	}
}
