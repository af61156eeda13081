package relay

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Rate is a token bucket: Burst new connections at once, refilled at
// PerSecond.
type Rate struct {
	PerSecond float64
	Burst     int
}

// maxTrackedIPs bounds the limiter's memory: about 100 bytes an entry.
const maxTrackedIPs = 1 << 16

// limiter holds a token bucket per source IP (IPv6: per /64). A bucket
// that has refilled is worth nothing and is dropped by sweeps, so an IP is
// held only while it is actually limited. When the map is full even after a
// sweep, every IP not in it shares one overflow bucket: an attacker with
// many addresses then limits only the other newcomers, never the clients
// already known.
type limiter struct {
	rate Rate
	max  int
	now  func() time.Time

	mu        sync.Mutex // guards buckets, overflow and lastSweep
	buckets   map[netip.Addr]*bucket
	overflow  bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(r Rate, max int, now func() time.Time) *limiter {
	l := &limiter{rate: r, max: max, now: now, buckets: make(map[netip.Addr]*bucket)}
	l.overflow = bucket{tokens: l.burst(), last: now()}
	return l
}

func (l *limiter) burst() float64 { return float64(max(l.rate.Burst, 1)) }

// fullAfter is how long an empty bucket takes to refill.
func (l *limiter) fullAfter() time.Duration {
	return time.Duration(l.burst() / l.rate.PerSecond * float64(time.Second))
}

// allow takes a token for addr's IP. A nil limiter allows everything; an
// address that is not IP (a pipe in tests) is allowed.
func (l *limiter) allow(addr net.Addr) bool {
	if l == nil {
		return true
	}
	key, ok := limitKey(addr)
	if !ok {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.sweep(now)
		}
		if len(l.buckets) >= l.max {
			return l.take(&l.overflow, now)
		}
		b = &bucket{tokens: l.burst(), last: now}
		l.buckets[key] = b
	} else if now.Sub(l.lastSweep) > l.fullAfter() {
		l.sweep(now)
	}
	return l.take(b, now)
}

func (l *limiter) take(b *bucket, now time.Time) bool {
	b.tokens = min(l.burst(), b.tokens+now.Sub(b.last).Seconds()*l.rate.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// sweep drops buckets that have refilled by now.
func (l *limiter) sweep(now time.Time) {
	full := l.fullAfter()
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// tracked returns how many IPs the limiter holds (for tests and metrics).
func (l *limiter) tracked() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// limitKey is the IP of addr, IPv6 cut to its /64 (one subscriber's
// prefix), IPv4-mapped IPv6 unmapped.
func limitKey(addr net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if addr == nil {
			return ip, false
		}
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return ip, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return ip, false
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}
