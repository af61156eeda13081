package censor

import (
	"math/bits"
	"net/netip"
	"sync"
	"time"
)

// Exemption names which rule of the GFW's fully-encrypted-traffic detector
// lets a first packet through (Wu et al., "How the Great Firewall of China
// Detects and Blocks Fully Encrypted Traffic", USENIX Security 2023,
// Algorithm 1, §4).
type Exemption string

const (
	// NotExempt: no rule applies; the packet is blocked with probability
	// 0.263.
	NotExempt Exemption = ""
	// Ex1: the average popcount per byte is <= 3.4 or >= 4.6 (§4.1).
	Ex1 Exemption = "Ex1 popcount"
	// Ex2: the first six bytes are printable ASCII, 0x20-0x7e (§4.2).
	Ex2 Exemption = "Ex2 printable prefix"
	// Ex3: more than half of the bytes are printable (§4.2).
	Ex3 Exemption = "Ex3 printable fraction"
	// Ex4: more than 20 contiguous printable bytes (§4.2).
	Ex4 Exemption = "Ex4 printable run"
	// Ex5: starts like TLS or HTTP (§4.3).
	Ex5 Exemption = "Ex5 protocol"
)

func printable(b byte) bool { return b >= 0x20 && b <= 0x7e }

// FETExemption applies Algorithm 1's exemptions to the first data packet of
// a flow and returns the first that applies, NotExempt if none does. The
// rules follow the paper's own implementation of Algorithm 1
// (gfw-report/usenixsecurity23-artifact, artifacts/utils/detect.py).
func FETExemption(pkt []byte) Exemption {
	if len(pkt) == 0 {
		return Ex1 // not a data packet; nothing to judge
	}
	ones, print, run, longest, prefix := 0, 0, 0, 0, 0
	for i, b := range pkt {
		ones += bits.OnesCount8(b)
		if printable(b) {
			print++
			run++
			longest = max(longest, run)
			if prefix == i {
				prefix++
			}
		} else {
			run = 0
		}
	}
	pop := float64(ones) / float64(len(pkt))
	switch {
	case pop <= 3.4 || pop >= 4.6:
		return Ex1
	case prefix >= 6:
		return Ex2
	case float64(print)/float64(len(pkt)) > 0.5:
		return Ex3
	case longest > 20:
		return Ex4
	case protocolPrefix(pkt):
		return Ex5
	}
	return NotExempt
}

// protocolPrefix is Ex5 (§4.3): the first three bytes match
// [\x16-\x17]\x03[\x00-\x09] (TLS handshake or application data), or the
// packet starts with "GET ", "PUT ", "POST " or "HEAD ". The artifact's
// detect.py compares the HTTP methods case-sensitively and we do the same;
// its code accepts a third TLS byte up to 0x0f while the paper's text says
// 0x09, and we follow the text (the stricter censor).
func protocolPrefix(p []byte) bool {
	if len(p) >= 3 && (p[0] == 0x16 || p[0] == 0x17) && p[1] == 0x03 && p[2] <= 0x09 {
		return true
	}
	s := string(p[:min(len(p), 5)])
	for _, m := range []string{"GET ", "PUT ", "POST ", "HEAD "} {
		if len(s) >= len(m) && s[:len(m)] == m {
			return true
		}
	}
	return false
}

// FullyEncrypted is the GFW's detector of fully encrypted traffic (USENIX
// Security 2023): it judges the first data packet a client sends in a TCP
// flow; if no exemption applies it blocks the flow with probability 0.263
// (§6.3: the per-connection blocking probability estimated from 109,489
// blocked IPs), dropping the client's packets from then on (the server's
// still pass, §4.4), and the (client IP, server IP, server port) triple stays
// blocked: every new flow on it is dropped for 180 s, a timer later packets
// do not extend (§4.4 observed 120 or 180 s; the issue fixes 180).
type FullyEncrypted struct {
	Probability float64       // 0.263
	Residual    time.Duration // 180 s
	// Servers limits the rule to these server ranges (the paper found only
	// VPS providers' ranges affected, §6.2); empty means all.
	Servers []netip.Prefix

	mu       sync.Mutex // guards residual
	residual map[triple]time.Time
}

type triple struct {
	client, server netip.Addr
	port           uint16
}

func tripleOf(k FlowKey) triple {
	return triple{k.Client.Addr(), k.Server.Addr(), k.Server.Port()}
}

// Name implements Rule.
func (r *FullyEncrypted) Name() string { return "fully-encrypted" }

// ResidualBlocked reports whether the flow's triple is in residual block.
func (r *FullyEncrypted) ResidualBlocked(now time.Time, k FlowKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.residual[tripleOf(k)]
	return ok && now.Before(until)
}

// Open implements Rule.
func (r *FullyEncrypted) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	if len(r.Servers) > 0 && !containsAddr(r.Servers, f.Key.Server.Addr()) {
		return nil, Decision{}
	}
	if r.ResidualBlocked(e.Now(), f.Key) {
		return nil, Decision{Verdict: Drop, Rule: r.Name() + "/residual"}
	}
	return r, Decision{}
}

// Data implements FlowRule.
func (r *FullyEncrypted) Data(f *Flow, dir Direction, seg []byte) Decision {
	if dir != ClientToServer || f.Segments(ClientToServer) != 1 {
		return Decision{}
	}
	if FETExemption(seg) != NotExempt {
		return Decision{}
	}
	e := f.Engine()
	if e.Float64() >= r.Probability {
		return Decision{}
	}
	r.mu.Lock()
	if r.residual == nil {
		r.residual = make(map[triple]time.Time)
	}
	r.residual[tripleOf(f.Key)] = e.Now().Add(r.Residual)
	r.mu.Unlock()
	return Decision{Verdict: Drop, Rule: r.Name()}
}

// FingerprintDenylist blocks TLS flows whose ClientHello, reassembled from
// the client's stream, has a listed JA3 or JA4. Since April 2026 Russia's
// TSPU blocks the fixed fake-TLS fingerprint of Telegram's own MTProto proxy
// client this way (community reports in the tdesktop and mtg issue
// trackers); see fingerprint.MTProtoJA4.
type FingerprintDenylist struct {
	JA3, JA4 []string
	// Action defaults to Drop.
	Action Verdict
}

// Name implements Rule.
func (r *FingerprintDenylist) Name() string { return "tls-fingerprint" }

// Open implements Rule.
func (r *FingerprintDenylist) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	return &fpFlow{rule: r}, Decision{}
}

type fpFlow struct {
	rule    *FingerprintDenylist
	decided bool
}

func (p *fpFlow) Data(f *Flow, dir Direction, seg []byte) Decision {
	if p.decided || dir != ClientToServer {
		return Decision{}
	}
	h, st := f.Hello()
	if st == HelloPending {
		return Decision{}
	}
	p.decided = true
	if st != HelloParsed {
		return Decision{}
	}
	ja3, ja4 := fingerprintOf(h)
	for _, x := range p.rule.JA3 {
		if x == ja3 {
			return p.block(f, "JA3 "+ja3)
		}
	}
	for _, x := range p.rule.JA4 {
		if x == ja4 {
			return p.block(f, "JA4 "+ja4)
		}
	}
	return Decision{}
}

func (p *fpFlow) block(f *Flow, what string) Decision {
	f.Engine().Logf(p.rule.Name(), f.Key, "denylisted %s", what)
	v := p.rule.Action
	if v == Pass {
		v = Drop
	}
	return Decision{Verdict: v, Rule: p.rule.Name()}
}
