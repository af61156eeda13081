package server

import (
	"math"
	"sync"
	"time"
)

// Rate is a token bucket: Burst tokens, refilled at PerSecond. A zero
// PerSecond disables the limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// RateLimits are the server's token buckets.
type RateLimits struct {
	// Connections per remote IP (checked before the handshake, which costs
	// the server an ML-KEM encapsulation and X25519 operations).
	ConnectionsPerIP Rate
	// Requests per remote IP, all sessions together.
	RequestsPerIP Rate
	// Requests per device, all its sessions together.
	RequestsPerDevice Rate
	// ClaimKeyPackages per requesting device (a claimer drains packages).
	ClaimsPerDevice Rate
}

// DefaultRateLimits suit a server of real users: generous for people,
// tight for scripts.
var DefaultRateLimits = RateLimits{
	ConnectionsPerIP:  Rate{PerSecond: 5, Burst: 50},
	RequestsPerIP:     Rate{PerSecond: 500, Burst: 2000},
	RequestsPerDevice: Rate{PerSecond: 50, Burst: 500},
	ClaimsPerDevice:   Rate{PerSecond: 1, Burst: 30},
}

// limiter holds one token bucket per key. Buckets that have refilled are
// dropped by sweep, so its memory follows the active keys only.
type limiter[K comparable] struct {
	rate Rate
	now  func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[K]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter[K comparable](r Rate, now func() time.Time) *limiter[K] {
	return &limiter[K]{rate: r, now: now, buckets: make(map[K]*bucket)}
}

// allow takes a token for key. If there is none it returns false and the
// whole seconds until there will be one (at least 1).
func (l *limiter[K]) allow(key K) (bool, uint32) {
	if l == nil || l.rate.PerSecond <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(max(l.rate.Burst, 1)), last: now}
		l.buckets[key] = b
	}
	b.tokens = min(float64(max(l.rate.Burst, 1)), b.tokens+now.Sub(b.last).Seconds()*l.rate.PerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := math.Ceil((1 - b.tokens) / l.rate.PerSecond)
	return false, uint32(max(1, min(wait, 86400)))
}

// sweep forgets buckets that are full again.
func (l *limiter[K]) sweep() {
	if l == nil || l.rate.PerSecond <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate.PerSecond >= float64(max(l.rate.Burst, 1)) {
			delete(l.buckets, k)
		}
	}
}
