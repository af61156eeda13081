package server

import (
	"net/netip"
	"time"

	"github.com/samizdat-project/samizdat/ratelimit"
	"github.com/samizdat-project/samizdat/wire"
)

// Rate is a token bucket: Burst tokens, refilled at PerSecond. A zero
// PerSecond disables the limit. The server and the relay share the policy
// of package ratelimit (golang.org/x/time/rate; IPv6 grouped by /64).
type Rate = ratelimit.Rate

// RateLimits are the server's token buckets.
type RateLimits struct {
	// Connections per remote IPv4 address or IPv6 /64 (checked before the
	// handshake, which costs the server an ML-KEM encapsulation and X25519
	// operations).
	ConnectionsPerIP Rate
	// Requests per remote IPv4 address or IPv6 /64, all sessions together.
	RequestsPerIP Rate
	// Requests per device, all its sessions together.
	RequestsPerDevice Rate
	// ClaimKeyPackages per requesting device (a claimer drains packages).
	ClaimsPerDevice Rate
	// Chunk requests (PutChunk, GetChunk and their parts) per remote
	// address and per device, counted apart from the requests above: a
	// chunk moves up to 256 KiB, and a file of 100 MiB is 400 of them, so
	// at a person's request rate (50/s) a second large file in a minute
	// crawled at 12.5 MiB/s. These buckets still hold a script that floods
	// chunk requests (each may cost the server a file and two fsyncs), and
	// a flood of them does not take the tokens of the device's messages.
	ChunksPerIP, ChunksPerDevice Rate
}

// DefaultRateLimits suit a server of real users: generous for people,
// tight for scripts.
var DefaultRateLimits = RateLimits{
	ConnectionsPerIP:  Rate{PerSecond: 5, Burst: 50},
	RequestsPerIP:     Rate{PerSecond: 500, Burst: 2000},
	RequestsPerDevice: Rate{PerSecond: 50, Burst: 500},
	ClaimsPerDevice:   Rate{PerSecond: 1, Burst: 30},
	ChunksPerIP:       Rate{PerSecond: 4096, Burst: 8192}, // 1 GiB/s of 256 KiB chunks, 2 GiB at once
	ChunksPerDevice:   Rate{PerSecond: 2048, Burst: 4096},
}

// chunkRequest reports whether t moves a file's chunk (or part of one):
// such requests draw from the chunk buckets (RateLimits.ChunksPerIP,
// ChunksPerDevice), not the request buckets.
func chunkRequest(t wire.Type) bool {
	switch t {
	case wire.TypePutChunk, wire.TypeGetChunk, wire.TypePutChunkPart, wire.TypeGetChunkPart:
		return true
	}
	return false
}

// limiter is a ratelimit.Limiter that answers in whole seconds.
type limiter[K comparable] struct{ l *ratelimit.Limiter[K] }

func newLimiter[K comparable](r Rate, now func() time.Time) *limiter[K] {
	return &limiter[K]{ratelimit.New[K](r, 0, now)}
}

// allow takes a token for key. If there is none it returns false and the
// whole seconds until there will be one (at least 1).
func (l *limiter[K]) allow(key K) (bool, uint32) {
	ok, wait := l.l.Allow(key)
	if ok {
		return true, 0
	}
	return false, ratelimit.RetryAfterSeconds(wait)
}

// sweep forgets buckets that are full again.
func (l *limiter[K]) sweep() { l.l.Sweep() }

// addrKey is the rate-limit key of a client address: IPv4, or IPv6 /64.
func addrKey(ip netip.Addr) netip.Addr { return ratelimit.Prefix(ip) }
