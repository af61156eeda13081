package relay

import (
	"net"
	"net/netip"
	"time"

	"github.com/samizdat-project/samizdat/ratelimit"
)

// Rate is a token bucket: Burst new connections at once, refilled at
// PerSecond. The relay and the server share one policy (package
// ratelimit: golang.org/x/time/rate, IPv6 grouped by /64).
type Rate = ratelimit.Rate

// maxTrackedIPs bounds the limiter's memory.
const maxTrackedIPs = ratelimit.DefaultMaxKeys

// limiter holds a token bucket per source IPv4 address or IPv6 /64; when
// its table is full, newcomers share one overflow bucket (ratelimit.Limiter).
type limiter struct {
	l *ratelimit.Limiter[netip.Addr]
}

func newLimiter(r Rate, max int, now func() time.Time) *limiter {
	return &limiter{ratelimit.New[netip.Addr](r, max, now)}
}

// allow takes a token for addr's key. A nil limiter allows everything; an
// address that is not IP (a pipe in tests) is allowed.
func (l *limiter) allow(addr net.Addr) bool {
	if l == nil {
		return true
	}
	key, ok := ratelimit.AddrKey(addr)
	if !ok {
		return true
	}
	ok, _ = l.l.Allow(key)
	return ok
}

// tracked returns how many keys the limiter holds (for tests and metrics).
func (l *limiter) tracked() int {
	if l == nil {
		return 0
	}
	return l.l.Tracked()
}
