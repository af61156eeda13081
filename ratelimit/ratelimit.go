// Package ratelimit is the one rate-limiting policy of the samizdat server
// and relay: token buckets (golang.org/x/time/rate) keyed by client, with
// client addresses grouped the same way everywhere (an IPv4 address, or an
// IPv6 /64: one subscriber's prefix), bounded memory, and an overflow
// bucket shared by newcomers when the table is full.
package ratelimit

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: Burst tokens, refilled at PerSecond. A zero
// PerSecond disables the limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// DefaultMaxKeys bounds a Limiter's table (about 200 bytes an entry).
const DefaultMaxKeys = 1 << 16

// Limiter holds one token bucket per key. A bucket that has refilled is
// worth nothing and is dropped by sweeps, so a key is held only while it is
// actually limited. When the table is full even after a sweep, every key
// not in it shares one overflow bucket: an attacker with many keys then
// limits only the other newcomers, never the clients already known. A nil
// Limiter, or one with a zero rate, allows everything.
type Limiter[K comparable] struct {
	rate    Rate
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex // guards buckets, overflow and lastSweep
	buckets   map[K]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

// New returns a Limiter for r with at most maxKeys buckets
// (DefaultMaxKeys if 0), on the clock now (time.Now if nil).
func New[K comparable](r Rate, maxKeys int, now func() time.Time) *Limiter[K] {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	l := &Limiter[K]{rate: r, maxKeys: maxKeys, now: now, buckets: make(map[K]*rate.Limiter)}
	if l.enabled() {
		l.overflow = l.newBucket()
		l.lastSweep = now()
	}
	return l
}

func (l *Limiter[K]) enabled() bool { return l != nil && l.rate.PerSecond > 0 }

func (l *Limiter[K]) burst() int { return max(l.rate.Burst, 1) }

func (l *Limiter[K]) newBucket() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(l.rate.PerSecond), l.burst())
}

// fullAfter is how long an empty bucket takes to refill.
func (l *Limiter[K]) fullAfter() time.Duration {
	return time.Duration(float64(l.burst()) / l.rate.PerSecond * float64(time.Second))
}

// Allow takes a token for key. If there is none it returns false and how
// long until there will be one.
func (l *Limiter[K]) Allow(key K) (bool, time.Duration) {
	if !l.enabled() {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			l.sweepLocked(now)
		}
		if len(l.buckets) >= l.maxKeys {
			b = l.overflow
		} else {
			b = l.newBucket()
			l.buckets[key] = b
		}
	} else if now.Sub(l.lastSweep) > l.fullAfter() {
		l.sweepLocked(now)
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// RetryAfterSeconds rounds a wait from Allow up to whole seconds, at least
// 1 and at most a day (wire.Error's RetryAfter).
func RetryAfterSeconds(d time.Duration) uint32 {
	s := (d + time.Second - 1) / time.Second
	return uint32(max(1, min(s, 86400)))
}

// Sweep forgets the buckets that have refilled.
func (l *Limiter[K]) Sweep() {
	if !l.enabled() {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
}

func (l *Limiter[K]) sweepLocked(now time.Time) {
	full := float64(l.burst())
	for k, b := range l.buckets {
		if b.TokensAt(now) >= full {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// Tracked returns how many keys the limiter holds (for tests and metrics).
func (l *Limiter[K]) Tracked() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Prefix is the key of a client address: an IPv4 address, or the /64
// prefix of an IPv6 address (IPv4-mapped IPv6 is unmapped first). One
// subscriber usually holds a whole IPv6 /64, so limiting per full IPv6
// address would let one client take 2^64 buckets.
func Prefix(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// AddrKey is Prefix of a connection's remote address; ok is false for an
// address that is not IP (a pipe in tests).
func AddrKey(addr net.Addr) (netip.Addr, bool) {
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
	if !ip.IsValid() {
		return ip, false
	}
	return Prefix(ip), true
}
