package lab

import (
	"net/netip"
	"time"

	"github.com/samizdat-project/samizdat/censor"
)

// pathModel decides, from what the censor did, whether a user still had a
// path the censor had not blocked at a given time. A path is one of the
// user's endpoints (the server's direct address and the relays its client
// knows from the server link and its slice of the endpoint book). It is
// blocked for a user:
//   - by an IP blocklist stage containing its address, from when the stage
//     landed;
//   - by an endpoint block (prober, enumeration), for the rule's block_for
//     (0: for good);
//   - for the fully-encrypted rule's residual time after that rule blocked
//     one of the user's flows to it (the (client, server, port) triple);
//   - for good after an allowlist, SNI denylist or fingerprint rule refused
//     one of the user's flows to it (the same transport meets the same rule
//     every time).
//
// A stall does not block a path (a new flow gets a fresh budget), nor does
// throttling: after those the client must get through again in time.
type pathModel struct {
	endpoints map[string][]netip.AddrPort // per user: the paths its client knows
	users     map[string]netip.Addr
	stages    []stageAt
	epBlocks  []blockSpan
	flowSpans []flowSpan
}

type stageAt struct {
	at       time.Time
	prefixes []netip.Prefix
}

type blockSpan struct {
	ep       netip.AddrPort
	from, to time.Time // to zero: for good
}

type flowSpan struct {
	client netip.Addr
	blockSpan
}

func newPathModel(sc *censor.Scenario, in reportInput, users map[netip.Addr]string) *pathModel {
	m := &pathModel{endpoints: map[string][]netip.AddrPort{}, users: map[string]netip.Addr{}}
	for a, n := range users {
		m.users[n] = a
		m.endpoints[n] = in.endpoints
		if eps, ok := in.known[n]; ok {
			m.endpoints[n] = eps
		}
	}
	var residual, blockFor time.Duration
	for _, s := range sc.Rules {
		if s.Type == "fully-encrypted" {
			residual = time.Duration(s.Residual)
		}
		if s.BlockFor > 0 {
			blockFor = max(blockFor, time.Duration(s.BlockFor))
		}
	}
	for _, r := range in.rules {
		if b, ok := r.(*censor.IPBlocklist); ok {
			for _, st := range b.Stages {
				m.stages = append(m.stages, stageAt{at: in.t0.Add(st.After), prefixes: st.Prefixes})
			}
		}
	}
	for _, ev := range in.engine.Events() {
		if ev.Rule == "endpoint-block" && !ev.Flow.Client.IsValid() && ev.Flow.Server.IsValid() {
			span := blockSpan{ep: ev.Flow.Server, from: ev.At}
			if blockFor > 0 {
				span.to = ev.At.Add(blockFor)
			}
			m.epBlocks = append(m.epBlocks, span)
			continue
		}
		if !ev.Flow.Client.IsValid() {
			continue
		}
		span := flowSpan{client: ev.Flow.Client.Addr(), blockSpan: blockSpan{ep: ev.Flow.Server, from: ev.At}}
		switch ev.Rule {
		case "fully-encrypted", "fully-encrypted/residual":
			span.to = ev.At.Add(residual)
		case "allowlist", "sni-denylist", "tls-fingerprint":
		default:
			continue
		}
		m.flowSpans = append(m.flowSpans, span)
	}
	return m
}

func (s blockSpan) covers(ep netip.AddrPort, t time.Time) bool {
	return s.ep == ep && !t.Before(s.from) && (s.to.IsZero() || t.Before(s.to))
}

// blocked reports whether ep was blocked for the user at address a at t.
func (m *pathModel) blocked(a netip.Addr, ep netip.AddrPort, t time.Time) bool {
	for _, st := range m.stages {
		if t.Before(st.at) {
			continue
		}
		for _, p := range st.prefixes {
			if p.Contains(ep.Addr()) {
				return true
			}
		}
	}
	for _, s := range m.epBlocks {
		if s.covers(ep, t) {
			return true
		}
	}
	for _, s := range m.flowSpans {
		if s.client == a && s.covers(ep, t) {
			return true
		}
	}
	return false
}

// open reports whether every one of the users had an unblocked endpoint
// at t.
func (m *pathModel) open(users []string, t time.Time) bool {
	for _, u := range users {
		a := m.users[u]
		ok := false
		for _, ep := range m.endpoints[u] {
			if !m.blocked(a, ep, t) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
