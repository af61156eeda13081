// Package censor is samizdat's censorship lab: a rule engine that plays the
// network censor of docs/threat-model.md (shared/design/threat-model.md) with
// the published numbers of each behaviour, the scenario files that combine
// those rules, and the glue both harnesses share.
//
// The engine sees flows, not packets of a particular network stack: a flow is
// a TCP connection (its 5-tuple reduced to client and server address, both
// TCP), and the bytes of each direction arrive as segments in the order and
// sizes they were written ("packets"). For every segment the engine returns a
// Decision: pass (possibly held back, for throttling), drop silently (the
// direction is black-holed from then on), reset, or pass a prefix and freeze
// the flow (stall after N bytes). Rules may also act on a clock: grow a
// blocklist, replay probes, enumerate relays.
//
// Two harnesses run the same engine unchanged: censor/memnet, an in-memory
// network for fast deterministic tests (like tailscale's natlab), and the
// network-namespace harness, whose transparent interceptor hands every real
// TCP flow to Engine.Intercept. The clock and the random source are injected
// (Config), so tests run fast and replay exactly.
package censor

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Direction is the direction of a segment within a flow.
type Direction uint8

const (
	// ClientToServer is the direction of the side that opened the flow.
	ClientToServer Direction = iota
	// ServerToClient is the answer direction.
	ServerToClient
)

func (d Direction) String() string {
	if d == ClientToServer {
		return "c2s"
	}
	return "s2c"
}

// FlowKey identifies a TCP flow: its 5-tuple with the protocol fixed to TCP.
type FlowKey struct {
	Client netip.AddrPort
	Server netip.AddrPort
}

func (k FlowKey) String() string { return k.Client.String() + "->" + k.Server.String() }

// Verdict is what happens to a segment (or, at Open, to the whole flow).
type Verdict uint8

const (
	// Pass delivers the segment, after Decision.Delay.
	Pass Verdict = iota
	// Drop discards the segment silently and black-holes this direction of
	// the flow from then on (a dropped segment in a TCP stream is a hole no
	// retransmission will fill, since the retransmission is dropped too). At
	// Open, the SYN is dropped: the client's connect times out.
	Drop
	// Reset tears the flow down in both directions, as injected RSTs do. At
	// Open, the connect is refused.
	Reset
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	case Reset:
		return "reset"
	}
	return fmt.Sprintf("verdict(%d)", v)
}

// Decision is the engine's answer for one segment.
type Decision struct {
	Verdict Verdict
	// Delay holds a passed segment back (throttling paces a flow this way).
	Delay time.Duration
	// Stall, with Verdict Pass, delivers only the first Keep bytes of the
	// segment and then freezes the flow: every later segment, in both
	// directions, is dropped silently.
	Stall bool
	Keep  int
	// Rule names the rule that decided, empty for a plain pass.
	Rule string
}

// merge combines two rules' decisions: reset beats drop beats stall beats
// pass; delays add up to the larger one.
func merge(a, b Decision) Decision {
	if b.Verdict > a.Verdict {
		return b
	}
	if a.Verdict != Pass || b.Verdict != Pass {
		return a
	}
	out := a
	if b.Delay > out.Delay {
		out.Delay = b.Delay
		if out.Rule == "" {
			out.Rule = b.Rule
		}
	}
	if b.Stall && (!out.Stall || b.Keep < out.Keep) {
		out.Stall, out.Keep, out.Rule = true, b.Keep, b.Rule
	}
	return out
}

// Rule is one censor behaviour. Open is called when a flow starts (the SYN);
// it returns the per-flow state that will see the flow's segments (nil if the
// rule has nothing more to do with the flow) and a decision on the flow
// itself. Open must not block.
type Rule interface {
	Name() string
	Open(e *Engine, f *Flow) (FlowRule, Decision)
}

// FlowRule is a rule's view of one flow. Data is called for every segment in
// arrival order, never concurrently for one flow; it must not block.
type FlowRule interface {
	Data(f *Flow, dir Direction, seg []byte) Decision
}

// Starter is implemented by rules that act on the clock (blocklist growth,
// probes, enumeration): Start is called once, when the rule is added.
type Starter interface {
	Start(e *Engine)
}

// Event is a line of the engine's log, for reports and timelines.
type Event struct {
	At   time.Time
	Rule string
	Flow FlowKey // zero for events that concern no single flow
	What string
}

// Config sets up an Engine.
type Config struct {
	// Clock defaults to RealClock.
	Clock Clock
	// Rand is the engine's only random source; nil seeds a PCG from Seed.
	Rand *rand.Rand
	Seed uint64
	// Exempt lists the censor's own addresses (prober, fake clients): flows
	// from them are never censored.
	Exempt []netip.Prefix
}

// Engine applies rules to flows. It is safe for concurrent use.
type Engine struct {
	clock  Clock
	exempt []netip.Prefix

	mu        sync.Mutex // guards the fields below
	rng       *rand.Rand
	rules     []Rule
	endpoints map[netip.AddrPort]endpointBlock
	events    []Event
}

type endpointBlock struct {
	until  time.Time // zero: forever
	reason string
}

// New returns an engine with no rules.
func New(cfg Config) *Engine {
	e := &Engine{clock: cfg.Clock, rng: cfg.Rand, exempt: cfg.Exempt,
		endpoints: make(map[netip.AddrPort]endpointBlock)}
	if e.clock == nil {
		e.clock = RealClock{}
	}
	if e.rng == nil {
		e.rng = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	}
	return e
}

// Add installs rules in order; rules that implement Starter start now.
func (e *Engine) Add(rules ...Rule) {
	e.mu.Lock()
	e.rules = append(e.rules, rules...)
	e.mu.Unlock()
	for _, r := range rules {
		if s, ok := r.(Starter); ok {
			s.Start(e)
		}
	}
}

// Clock returns the engine's clock.
func (e *Engine) Clock() Clock { return e.clock }

// Now is the engine clock's time.
func (e *Engine) Now() time.Time { return e.clock.Now() }

// Float64 draws from the engine's random source, in [0, 1).
func (e *Engine) Float64() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rng.Float64()
}

// IntN draws from the engine's random source, in [0, n).
func (e *Engine) IntN(n int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rng.IntN(n)
}

// Read fills p from the engine's random source (for probe payloads).
func (e *Engine) Read(p []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range p {
		p[i] = byte(e.rng.Uint32())
	}
}

// Schedule runs fn after d on the engine's clock.
func (e *Engine) Schedule(d time.Duration, fn func()) Timer { return e.clock.AfterFunc(d, fn) }

// Logf records an event.
func (e *Engine) Logf(rule string, flow FlowKey, format string, args ...any) {
	ev := Event{At: e.Now(), Rule: rule, Flow: flow, What: fmt.Sprintf(format, args...)}
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
}

// Events returns a copy of the log so far.
func (e *Engine) Events() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.events...)
}

// BlockEndpoint black-holes every flow to ep, new and existing, for d (0:
// for good). The prober and the enumerator block what they find this way.
func (e *Engine) BlockEndpoint(ep netip.AddrPort, d time.Duration, reason string) {
	b := endpointBlock{reason: reason}
	if d > 0 {
		b.until = e.Now().Add(d)
	}
	e.mu.Lock()
	e.endpoints[ep] = b
	e.mu.Unlock()
	e.Logf("endpoint-block", FlowKey{Server: ep}, "blocked %s: %s", ep, reason)
}

// EndpointBlocked reports whether ep is blocked by BlockEndpoint now.
func (e *Engine) EndpointBlocked(ep netip.AddrPort) bool {
	now := e.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.endpoints[ep]
	return ok && (b.until.IsZero() || now.Before(b.until))
}

// BlockedEndpoints lists the endpoints blocked now.
func (e *Engine) BlockedEndpoints() []netip.AddrPort {
	now := e.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []netip.AddrPort
	for ep, b := range e.endpoints {
		if b.until.IsZero() || now.Before(b.until) {
			out = append(out, ep)
		}
	}
	return out
}

func (e *Engine) exempted(a netip.Addr) bool {
	for _, p := range e.exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Open starts a flow. If the decision is Drop or Reset the flow is refused
// and the returned Flow must not be used; otherwise the caller passes every
// segment to Flow.Data and calls Flow.Close at the end.
func (e *Engine) Open(key FlowKey) (*Flow, Decision) {
	f := &Flow{Key: key, Opened: e.Now(), engine: e}
	if e.exempted(key.Client.Addr()) {
		f.exempt = true
		return f, Decision{}
	}
	if e.EndpointBlocked(key.Server) {
		e.Logf("endpoint-block", key, "SYN dropped")
		return f, Decision{Verdict: Drop, Rule: "endpoint-block"}
	}
	e.mu.Lock()
	rules := append([]Rule(nil), e.rules...)
	e.mu.Unlock()
	var d Decision
	for _, r := range rules {
		fr, rd := r.Open(e, f)
		d = merge(d, rd)
		if fr != nil {
			f.rules = append(f.rules, fr)
		}
	}
	if d.Verdict != Pass {
		e.Logf(d.Rule, key, "flow refused: %s", d.Verdict)
	}
	return f, d
}
