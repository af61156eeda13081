package ratelimit

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func tcp(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 1} }

func TestPrefixPolicy(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
	} {
		ka, _ := AddrKey(tcp(c.a))
		kb, _ := AddrKey(tcp(c.b))
		if ka != kb {
			t.Errorf("%s and %s have keys %v and %v; want one", c.a, c.b, ka, kb)
		}
	}
	ka, _ := AddrKey(tcp("2001:db8:1:2::1"))
	kb, _ := AddrKey(tcp("2001:db8:1:3::1"))
	if ka == kb {
		t.Error("two /64s share a key")
	}
	if _, ok := AddrKey(&net.UnixAddr{Name: "x"}); ok {
		t.Error("a non-IP address got a key")
	}
}

func TestLimiterBucketsAndOverflow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New[netip.Addr](Rate{PerSecond: 1, Burst: 2}, 4, func() time.Time { return now })
	k := func(s string) netip.Addr { a, _ := AddrKey(tcp(s)); return a }
	if ok, _ := l.Allow(k("10.0.0.1")); !ok {
		t.Fatal("first token refused")
	}
	l.Allow(k("10.0.0.1"))
	ok, wait := l.Allow(k("10.0.0.1"))
	if ok || wait != time.Second {
		t.Fatalf("third token: %v, wait %v; want refused, 1s", ok, wait)
	}
	if RetryAfterSeconds(wait) != 1 || RetryAfterSeconds(1500*time.Millisecond) != 2 {
		t.Error("RetryAfterSeconds rounds wrong")
	}
	// Many keys: the table stays bounded, the overflow bucket is shared.
	for i := range 100 {
		l.Allow(netip.AddrFrom4([4]byte{10, 1, byte(i), 1}))
	}
	if n := l.Tracked(); n > 4 {
		t.Fatalf("tracked %d keys, max 4", n)
	}
	now = now.Add(time.Minute)
	l.Sweep()
	if n := l.Tracked(); n != 0 {
		t.Fatalf("after refilling, %d keys still tracked", n)
	}
	var nilL *Limiter[int]
	if ok, _ := nilL.Allow(1); !ok {
		t.Fatal("nil limiter refused")
	}
}
