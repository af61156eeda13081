package censor

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
)

// RecordShape judges the shape of the TLS records a client sends early in
// a flow, without decrypting them: a tunnel that carries another TLS
// handshake (or any request-response protocol of large first messages)
// inside TLS shows several large client records in its first round trips,
// where a browser sends a hello, a short Finished and small requests.
// Russia's TSPU has blocked tunnels on such inner patterns since 2024; the
// published trigger we model (docs/lab.md, "record-shape") is MinRecords or
// more client application-data records of at least MinSize bytes among the
// first Window client records after the ClientHello, to a destination
// outside Allow. Xue et al. (USENIX Security 2024) show that sizes and
// directions alone classify encapsulated handshakes. The flow is dropped
// (black-holed), as TSPU does, unless Action says reset.
type RecordShape struct {
	MinSize    int            // bytes of a record, its 5-byte header included (411)
	MinRecords int            // large records that trigger (3)
	Window     int            // client records after the hello that are looked at (default 10)
	Allow      []netip.Prefix // destinations never judged
	Action     Verdict        // default Drop
}

// Name implements Rule.
func (r *RecordShape) Name() string { return "record-shape" }

// Open implements Rule.
func (r *RecordShape) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	return openExempt(r.Allow, f, &recordShapeFlow{rule: r})
}

// recordShapeFlow follows the client's TLS record layer across segments.
type recordShapeFlow struct {
	rule    *RecordShape
	records recordReader
	seen    int  // client records after the hello
	large   int  // of those, application data of at least MinSize bytes
	done    bool // judged, or not TLS: nothing more to look at
}

func (s *recordShapeFlow) Data(f *Flow, dir Direction, seg []byte) Decision {
	if s.done || dir != ClientToServer {
		return Decision{}
	}
	if _, st := f.Hello(); st == HelloNone {
		s.done = true // not TLS: other rules judge it
		return Decision{}
	}
	window := s.rule.Window
	if window <= 0 {
		window = 10
	}
	for _, rec := range s.records.feed(seg) {
		if rec.hello {
			continue // the ClientHello itself
		}
		s.seen++
		if rec.typ == recordApplicationData && rec.size >= s.rule.MinSize {
			s.large++
		}
		if s.large >= s.rule.MinRecords {
			s.done = true
			v := s.rule.Action
			if v == Pass {
				v = Drop
			}
			return Decision{Verdict: v, Rule: s.rule.Name()}
		}
		if s.seen >= window {
			s.done = true
			break
		}
	}
	if s.records.broken {
		s.done = true
	}
	return Decision{}
}

const (
	recordChangeCipherSpec = 20
	recordHandshake        = 22
	recordApplicationData  = 23
)

// record is one TLS record as seen on the wire: its content type, its
// size with the 5-byte header, and whether it belongs to the leading run of
// handshake records that carries the ClientHello.
type record struct {
	typ   byte
	size  int
	hello bool
}

// recordReader splits a byte stream into TLS records across segment
// boundaries.
type recordReader struct {
	buf       []byte
	pastHello bool // a record of another type than handshake has been seen
	broken    bool // not a TLS record stream
}

func (r *recordReader) feed(seg []byte) []record {
	if r.broken {
		return nil
	}
	r.buf = append(r.buf, seg...)
	var out []record
	for len(r.buf) >= 5 {
		typ := r.buf[0]
		if typ < recordChangeCipherSpec || typ > 24 || r.buf[1] != 3 {
			r.broken, r.buf = true, nil
			return out
		}
		n := int(binary.BigEndian.Uint16(r.buf[3:5]))
		if len(r.buf) < 5+n {
			break
		}
		hello := !r.pastHello && typ == recordHandshake
		r.pastHello = !hello
		out = append(out, record{typ: typ, size: 5 + n, hello: hello})
		r.buf = r.buf[5+n:]
	}
	if len(r.buf) == 0 {
		r.buf = nil // let a long flow's buffer go
	}
	return out
}

// JA4Allowlist lets through only TLS flows whose ClientHello has one of
// the listed JA4 fingerprints (those of current browsers, captured from
// the installed Chromium); every other flow to a destination outside Allow
// is reset once its first bytes show what it is: a hello with another JA4,
// or bytes that are not a ClientHello at all. It models a censor that
// answers a stale or foreign TLS stack (TSPU's 2026 JA4 rules, turned from
// a denylist into an allowlist).
//
// With AnyHello set, every complete ClientHello passes whatever its JA4:
// the "TLS only" censor that drops whatever does not start as TLS.
type JA4Allowlist struct {
	JA4s     []string
	Allow    []netip.Prefix
	AnyHello bool
}

// Name implements Rule.
func (r *JA4Allowlist) Name() string {
	if r.AnyHello {
		return "tls-only"
	}
	return "ja4-allowlist"
}

// Open implements Rule.
func (r *JA4Allowlist) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	return openExempt(r.Allow, f, &helloGate{rule: r.Name(), refuse: Reset, allows: r.allows}) // rules_sni.go
}

// allows is the JA4Allowlist's test of a complete hello.
func (r *JA4Allowlist) allows(f *Flow, h *tlsfingerprint.ClientHello) bool {
	if r.AnyHello || slices.Contains(r.JA4s, h.JA4()) {
		return true
	}
	f.Engine().Logf(r.Name(), f.Key, "JA4 %s is not an allowed browser's", h.JA4())
	return false
}

// UDPBlock drops UDP, QUIC included, from clients to every destination
// outside Allow: censors that run allowlists or fight QUIC-based tunnels
// (Russia's TSPU has throttled and dropped QUIC to foreign hosts since 2022,
// net4people reports). The engine sees only TCP flows, so the rule has no
// flow logic; the namespace harness enforces it in nftables
// (netns.Topology.BlockUDP) when the censor goes live.
type UDPBlock struct {
	Allow []netip.Prefix
}

// Name implements Rule.
func (r *UDPBlock) Name() string { return "udp-block" }

// Open implements Rule: TCP flows are not its business.
func (r *UDPBlock) Open(e *Engine, f *Flow) (FlowRule, Decision) { return nil, Decision{} }

// looksLikeTLS reports whether a flow's first client packet starts like a
// TLS handshake record: the analyst of 2026 probes TLS servers too, since
// tunnels hide behind TLS.
func looksLikeTLS(first []byte) bool {
	return len(first) >= 3 && first[0] == recordHandshake && first[1] == 3
}
