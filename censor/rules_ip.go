package censor

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Stage is one step of a growing blocklist: After the rule starts, Prefixes
// join the list.
type Stage struct {
	After    time.Duration
	Prefixes []netip.Prefix
	Label    string
}

// IPBlocklist drops every flow to a listed server address, new or existing,
// and grows on a schedule. It reproduces Russia's April 2018 Telegram block:
// about 9k Telegram server addresses first (16 April), then ~600k Amazon
// addresses, then whole cloud ranges, more than 16 million addresses (~0.5%
// of IPv4) by 17 April 2018 (threat-model.md, "IP blocking at scale";
// Roskomnadzor registry counts reported at the time). Scenario files scale
// the stages down to the lab's own addresses.
type IPBlocklist struct {
	Stages []Stage
	// Action is Drop (the default: packets to listed addresses vanish) or
	// Reset.
	Action Verdict

	mu     sync.Mutex // guards active
	active []netip.Prefix
}

// Name implements Rule.
func (b *IPBlocklist) Name() string { return "ip-blocklist" }

// Start implements Starter: stage 0 applies now, later stages on the clock.
func (b *IPBlocklist) Start(e *Engine) {
	for _, st := range b.Stages {
		st := st
		apply := func() {
			b.mu.Lock()
			b.active = append(b.active, st.Prefixes...)
			b.mu.Unlock()
			e.Logf(b.Name(), FlowKey{}, "stage %q: +%d prefixes, %d addresses blocked", st.Label, len(st.Prefixes), b.Addresses())
		}
		if st.After <= 0 {
			apply()
		} else {
			e.Schedule(st.After, apply)
		}
	}
}

// Blocked reports whether a is on the list now.
func (b *IPBlocklist) Blocked(a netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return containsAddr(b.active, a)
}

// Addresses counts the distinct IPv4 addresses on the list now.
func (b *IPBlocklist) Addresses() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n uint64
	for i, p := range b.active {
		if !p.Addr().Is4() {
			continue
		}
		covered := false
		for j, q := range b.active {
			if j != i && q.Bits() <= p.Bits() && q.Contains(p.Addr()) && (q.Bits() < p.Bits() || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			n += 1 << (32 - p.Bits())
		}
	}
	return n
}

func (b *IPBlocklist) verdict() Verdict {
	if b.Action == Pass {
		return Drop
	}
	return b.Action
}

// Open implements Rule.
func (b *IPBlocklist) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	if b.Blocked(f.Key.Server.Addr()) {
		return nil, Decision{Verdict: b.verdict(), Rule: b.Name()}
	}
	return b, Decision{}
}

// Data implements FlowRule: a flow opened before its server was listed dies
// when the list grows, as routers drop its packets from then on.
func (b *IPBlocklist) Data(f *Flow, dir Direction, seg []byte) Decision {
	if b.Blocked(f.Key.Server.Addr()) {
		return Decision{Verdict: b.verdict(), Rule: b.Name()}
	}
	return Decision{}
}

// openExempt is Open for a rule that never judges the destinations in
// allow: a flow to one of them gets no FlowRule, any other gets fr.
func openExempt(allow []netip.Prefix, f *Flow, fr FlowRule) (FlowRule, Decision) {
	if containsAddr(allow, f.Key.Server.Addr()) {
		return nil, Decision{}
	}
	return fr, Decision{}
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// matchName reports whether host is pattern or a subdomain of it, ignoring
// case and a trailing dot ("twitter.com" matches "abs.twimg.com"? no;
// "api.twitter.com" yes).
func matchName(host, pattern string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	pattern = strings.TrimPrefix(strings.TrimSuffix(strings.ToLower(pattern), "."), "*.")
	return host == pattern || strings.HasSuffix(host, "."+pattern)
}

func matchAny(host string, patterns []string) bool {
	for _, p := range patterns {
		if matchName(host, p) {
			return true
		}
	}
	return false
}
