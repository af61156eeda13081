package censor

import (
	"net/netip"
	"time"

	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
)

// SNIDenylist acts on TLS flows whose ClientHello names a listed host (or a
// subdomain), once the hello is reassembled. TSPU in Russia triggers on SNI
// ("TSPU: Russia's Decentralized Censorship System", IMC 2022); the GFW
// resets such flows.
type SNIDenylist struct {
	Names []string
	// Action defaults to Reset.
	Action Verdict
}

// Name implements Rule.
func (r *SNIDenylist) Name() string { return "sni-denylist" }

// Open implements Rule.
func (r *SNIDenylist) Open(e *Engine, f *Flow) (FlowRule, Decision) { return r, Decision{} }

// Data implements FlowRule.
func (r *SNIDenylist) Data(f *Flow, dir Direction, seg []byte) Decision {
	h, st := f.Hello()
	if dir != ClientToServer || st != HelloParsed || f.Segments(ClientToServer) == 0 {
		return Decision{}
	}
	if h.HasServerName && matchAny(h.ServerName, r.Names) {
		v := r.Action
		if v == Pass {
			v = Reset
		}
		return Decision{Verdict: v, Rule: r.Name()}
	}
	return Decision{}
}

// Allowlist is allowlist-only mode, seen on Russian mobile networks in
// 2025-2026 (net4people reports): a flow passes only if its server address
// is in an approved range, or it is TLS whose SNI is approved. Anything else
// is dropped as soon as its first bytes show it is not such a hello.
type Allowlist struct {
	Prefixes []netip.Prefix
	SNIs     []string
}

// Name implements Rule.
func (r *Allowlist) Name() string { return "allowlist" }

// Open implements Rule.
func (r *Allowlist) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	return openExempt(r.Prefixes, f, &helloGate{rule: r.Name(), refuse: Drop, allows: func(f *Flow, h *tlsfingerprint.ClientHello) bool {
		return h.HasServerName && matchAny(h.ServerName, r.SNIs)
	}})
}

// helloGate is the flow logic of a rule that lets a flow through once its
// ClientHello is approved: it waits for the whole hello (a partial one may
// still be approved), then passes the flow for good if allows says so;
// a refused hello, or a first packet that is no hello, gets refuse.
type helloGate struct {
	rule    string
	refuse  Verdict
	allows  func(f *Flow, h *tlsfingerprint.ClientHello) bool
	allowed bool // guarded by the flow's mutex, like all FlowRule state
}

func (g *helloGate) Data(f *Flow, dir Direction, seg []byte) Decision {
	if g.allowed || dir != ClientToServer {
		return Decision{}
	}
	h, st := f.Hello()
	switch st {
	case HelloPending:
		return Decision{}
	case HelloParsed:
		if g.allows(f, h) {
			g.allowed = true
			return Decision{}
		}
	}
	return Decision{Verdict: g.refuse, Rule: g.rule}
}

// Throttle slows flows whose SNI matches to a rate drawn per flow between
// MinBPS and MaxBPS bits per second: Russia throttled Twitter to 130-150 kbps
// from 10 March 2021 ("Throttling Twitter: an emerging censorship technique
// in Russia", IMC 2021). The real throttler drops packets above the rate and
// TCP's congestion control settles at it; a stream harness cannot drop bytes
// without corrupting the stream, so here the engine paces delivery to the
// same rate, in both directions, from the hello on.
type Throttle struct {
	SNIs           []string
	MinBPS, MaxBPS float64
}

// Name implements Rule.
func (r *Throttle) Name() string { return "sni-throttle" }

// Open implements Rule.
func (r *Throttle) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	rate := r.MinBPS
	if r.MaxBPS > r.MinBPS {
		rate += e.Float64() * (r.MaxBPS - r.MinBPS)
	}
	return &throttleFlow{rule: r, rate: rate}, Decision{}
}

type throttleFlow struct {
	rule   *Throttle
	rate   float64 // bits per second for this flow
	active bool
	next   [2]time.Time // when the previous segment has fully drained, per direction
}

func (t *throttleFlow) Data(f *Flow, dir Direction, seg []byte) Decision {
	if !t.active {
		h, st := f.Hello()
		if st != HelloParsed || !h.HasServerName || !matchAny(h.ServerName, t.rule.SNIs) {
			return Decision{}
		}
		t.active = true
		f.Engine().Logf(t.rule.Name(), f.Key, "throttling %q to %.0f bit/s", h.ServerName, t.rate)
	}
	now := f.Engine().Now()
	start := t.next[dir]
	if start.Before(now) {
		start = now
	}
	done := start.Add(time.Duration(float64(len(seg)*8) / t.rate * float64(time.Second)))
	t.next[dir] = done
	return Decision{Delay: done.Sub(now), Rule: t.rule.Name()}
}

// Stall freezes flows to "foreign hosting" ranges once they have carried a
// number of bytes drawn per flow between MinBytes and MaxBytes: TSPU flows to
// foreign hosting providers hang after 16-20 KB (net4people reports,
// 2024-2026). Bytes of both directions count, or with ServerBytesOnly only
// those from the server (the 2025 freeze of TLS to foreign data centres
// after 15-20 KB server-to-client); the segment that crosses the limit is
// cut there and nothing more passes either way, and no reset is sent.
type Stall struct {
	Servers            []netip.Prefix
	MinBytes, MaxBytes int
	ServerBytesOnly    bool
}

// Name implements Rule.
func (r *Stall) Name() string { return "stall" }

// Open implements Rule.
func (r *Stall) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	if !containsAddr(r.Servers, f.Key.Server.Addr()) {
		return nil, Decision{}
	}
	limit := r.MinBytes
	if r.MaxBytes > r.MinBytes {
		limit += e.IntN(r.MaxBytes - r.MinBytes + 1)
	}
	return &stallFlow{rule: r, limit: int64(limit)}, Decision{}
}

type stallFlow struct {
	rule  *Stall
	limit int64
}

func (s *stallFlow) Data(f *Flow, dir Direction, seg []byte) Decision {
	total := f.Bytes(ServerToClient)
	if s.rule.ServerBytesOnly {
		if dir != ServerToClient {
			return Decision{}
		}
	} else {
		total += f.Bytes(ClientToServer)
	}
	if total <= s.limit {
		return Decision{}
	}
	keep := int64(len(seg)) - (total - s.limit)
	if keep < 0 {
		keep = 0
	}
	return Decision{Stall: true, Keep: int(keep), Rule: s.rule.Name()}
}
