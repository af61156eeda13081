package censor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProbeLengths are the lengths of the GFW's random probes against
// Shadowsocks servers, each also sent one byte shorter and longer, plus 221
// ("How China Detects and Blocks Shadowsocks", IMC 2020, §4: probe types NR1
// and NR2).
var ProbeLengths = []int{8, 12, 16, 22, 33, 41, 49}

// Prober is the GFW's active prober (IMC 2020): it records the first packet
// of suspicious flows and later replays it to the server, unchanged and with
// a byte changed, and sends random probes; it sends the same probes to a
// plain web server and compares the answers (bytes, whether and when the
// connection closes). An endpoint that answers differently is blocked.
// Delays run from 0.28 s to 570 hours, more than half within a minute.
//
// Probes run on the engine's clock (scheduled), but each exchange is real
// I/O through Dial with real timeouts, so give the prober an address in
// Config.Exempt.
type Prober struct {
	// Dial opens a connection from the prober to an endpoint.
	Dial func(ctx context.Context, ep netip.AddrPort) (net.Conn, error)
	// Reference opens a connection to a plain web server, the baseline.
	Reference func(ctx context.Context) (net.Conn, error)
	// Suspicious picks the flows whose first packet is recorded; nil means
	// those the fully-encrypted detector would judge (no exemption applies).
	Suspicious func(first []byte) bool
	// Servers limits probing to these ranges; empty means all.
	Servers []netip.Prefix
	// MaxDelay caps replay delays (quick runs); 0 means 570 h.
	MaxDelay time.Duration
	// Wait bounds each exchange (default 5 s); Tolerance is how far close
	// times may differ and still count as the same (default 1 s).
	Wait, Tolerance time.Duration
	// RecordsPerEndpoint caps recorded first packets per endpoint (default 3).
	RecordsPerEndpoint int
	// BlockFor is how long a failed endpoint stays blocked (0: for good).
	BlockFor time.Duration

	mu       sync.Mutex // guards recorded and results
	recorded map[netip.AddrPort]int
	results  []ProbeResult
}

// ProbeResult is one probe and the two answers compared.
type ProbeResult struct {
	At        time.Time
	Endpoint  netip.AddrPort
	Kind      string // "replay", "replay-changed", "random-N"
	Target    Answer
	Reference Answer
	Differs   string // why the answers differ, "" if alike
}

// Answer is how a server answered a probe.
type Answer struct {
	Data  []byte
	End   string // "fin", "rst", "timeout", "error: ..."
	After time.Duration
}

// Name implements Rule.
func (p *Prober) Name() string { return "active-prober" }

// Results returns the probes run so far.
func (p *Prober) Results() []ProbeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProbeResult(nil), p.results...)
}

// Open implements Rule.
func (p *Prober) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	if len(p.Servers) > 0 && !containsAddr(p.Servers, f.Key.Server.Addr()) {
		return nil, Decision{}
	}
	return p, Decision{}
}

// Data implements FlowRule: it records the first client packet.
func (p *Prober) Data(f *Flow, dir Direction, seg []byte) Decision {
	if dir != ClientToServer || f.Segments(ClientToServer) != 1 {
		return Decision{}
	}
	suspicious := p.Suspicious
	if suspicious == nil {
		suspicious = func(b []byte) bool { return FETExemption(b) == NotExempt }
	}
	if !suspicious(seg) {
		return Decision{}
	}
	ep := f.Key.Server
	limit := p.RecordsPerEndpoint
	if limit == 0 {
		limit = 3
	}
	p.mu.Lock()
	if p.recorded == nil {
		p.recorded = make(map[netip.AddrPort]int)
	}
	p.recorded[ep]++
	n := p.recorded[ep]
	p.mu.Unlock()
	if n > limit {
		return Decision{}
	}
	e := f.Engine()
	first := append([]byte(nil), seg...)
	changed := append([]byte(nil), seg...)
	changed[0] ^= 0xff
	length := ProbeLengths[e.IntN(len(ProbeLengths))] + e.IntN(3) - 1
	if e.IntN(len(ProbeLengths)+1) == 0 {
		length = 221
	}
	random := make([]byte, length)
	e.Read(random)
	for _, pr := range []struct {
		kind    string
		payload []byte
	}{{"replay", first}, {"replay-changed", changed}, {fmt.Sprintf("random-%d", length), random}} {
		pr := pr
		e.Schedule(p.delay(e), func() { p.probe(e, ep, pr.kind, pr.payload) })
	}
	e.Logf(p.Name(), f.Key, "recorded first packet (%d bytes), 3 probes scheduled", len(seg))
	return Decision{}
}

// delay draws a probe delay: with probability 0.55 log-uniform in
// [0.28 s, 60 s], else log-uniform in [60 s, 570 h] (IMC 2020: more than half
// of replays within a minute, shortest 0.28 s, longest 570 h); MaxDelay caps.
func (p *Prober) delay(e *Engine) time.Duration {
	lo, mid, hi := 0.28, 60.0, 570*3600.0
	if p.MaxDelay > 0 {
		hi = math.Min(hi, p.MaxDelay.Seconds())
		mid = math.Min(mid, hi)
	}
	a, b := lo, mid
	if e.Float64() >= 0.55 && hi > mid {
		a, b = mid, hi
	}
	s := math.Exp(math.Log(a) + e.Float64()*(math.Log(b)-math.Log(a)))
	return time.Duration(s * float64(time.Second))
}

func (p *Prober) probe(e *Engine, ep netip.AddrPort, kind string, payload []byte) {
	wait, tol := p.Wait, p.Tolerance
	if wait == 0 {
		wait = 5 * time.Second
	}
	if tol == 0 {
		tol = time.Second
	}
	var target, ref Answer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		target = exchange(func(ctx context.Context) (net.Conn, error) { return p.Dial(ctx, ep) }, payload, wait)
	}()
	go func() { defer wg.Done(); ref = exchange(p.Reference, payload, wait) }()
	wg.Wait()
	r := ProbeResult{At: e.Now(), Endpoint: ep, Kind: kind, Target: target, Reference: ref,
		Differs: compareAnswers(target, ref, tol)}
	p.mu.Lock()
	p.results = append(p.results, r)
	p.mu.Unlock()
	if r.Differs != "" {
		e.Logf(p.Name(), FlowKey{Server: ep}, "%s probe: %s", kind, r.Differs)
		e.BlockEndpoint(ep, p.BlockFor, "answers probes unlike a web server: "+r.Differs)
	}
}

// exchange sends payload on a fresh connection and reads the answer until
// the server closes or wait passes.
func exchange(dial func(context.Context) (net.Conn, error), payload []byte, wait time.Duration) Answer {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		return Answer{End: "error: " + err.Error()}
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(wait))
	if _, err := c.Write(payload); err != nil {
		return Answer{End: endOf(err), After: time.Since(start)}
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, io.LimitReader(c, 64<<10))
	a := Answer{Data: buf.Bytes(), After: time.Since(start), End: "fin"}
	if err != nil {
		a.End = endOf(err)
	}
	return a
}

func endOf(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "rst"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "error: " + err.Error()
}

func firstLine(b []byte) string {
	if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
		b = b[:i]
	}
	return string(b[:min(len(b), 100)])
}

// compareAnswers says how a target's answer differs from the reference web
// server's, "" if it does not.
// isTLS reports whether an answer starts with a TLS record header.
func isTLS(b []byte) bool { return len(b) >= 5 && b[0] >= 20 && b[0] <= 24 && b[1] == 3 }

// tlsRec is a TLS record's type and length.
type tlsRec struct{ typ, n int }

// recordShape lists the TLS records that b holds in full.
func recordShape(b []byte) []tlsRec {
	var out []tlsRec
	for len(b) >= 5 {
		n := int(b[3])<<8 | int(b[4])
		if len(b) < 5+n {
			break
		}
		out = append(out, tlsRec{int(b[0]), n})
		b = b[5+n:]
	}
	return out
}

// similarShapes: the same record types in the same order, each length
// within 16 bytes: one server's answers vary that much between
// connections (a session ticket's length, seen in the lab), a different
// server's (another certificate, another key share) by far more.
func similarShapes(a, b []tlsRec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].typ != b[i].typ || a[i].n-b[i].n > 16 || b[i].n-a[i].n > 16 {
			return false
		}
	}
	return true
}

func shapeString(rs []tlsRec) string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d/%d", r.typ, r.n))
	}
	return strings.Join(out, " ")
}

func compareAnswers(t, r Answer, tol time.Duration) string {
	switch {
	case t.End != r.End:
		return fmt.Sprintf("ends with %s, web server with %s", t.End, r.End)
	case (len(t.Data) == 0) != (len(r.Data) == 0):
		return fmt.Sprintf("answers %d bytes, web server %d", len(t.Data), len(r.Data))
	case isTLS(t.Data) && isTLS(r.Data):
		// A TLS answer's bytes are fresh every time (the server's random,
		// its key share): compare what a censor can compare, the records'
		// types and sizes.
		if ts, rs := recordShape(t.Data), recordShape(r.Data); !similarShapes(ts, rs) {
			return fmt.Sprintf("answers TLS records %s, web server %s", shapeString(ts), shapeString(rs))
		}
	case firstLine(t.Data) != firstLine(r.Data):
		return fmt.Sprintf("answers %q, web server %q", firstLine(t.Data), firstLine(r.Data))
	case t.End != "timeout" && (t.After-r.After > tol || r.After-t.After > tol):
		return fmt.Sprintf("closes after %v, web server after %v", t.After.Round(time.Millisecond), r.After.Round(time.Millisecond))
	}
	return ""
}

// Enumerator is the censor that runs many fake users to learn every relay
// the system hands out, then blocks them all (Tor bridge distribution
// research: rdsys, Lox, PETS 2023). Client i asks at i*Interval on the
// engine's clock; every endpoint learned is blocked.
type Enumerator struct {
	Clients  int
	Interval time.Duration
	// Ask plays fake client i asking the system for relays (for example
	// through the endpoint-book API); the scenario provides it.
	Ask      func(ctx context.Context, client int) ([]netip.AddrPort, error)
	BlockFor time.Duration

	mu      sync.Mutex // guards learned
	learned map[netip.AddrPort]bool
}

// Name implements Rule.
func (r *Enumerator) Name() string { return "enumeration" }

// Open implements Rule; enumeration inspects no flows.
func (r *Enumerator) Open(e *Engine, f *Flow) (FlowRule, Decision) { return nil, Decision{} }

// Start implements Starter.
func (r *Enumerator) Start(e *Engine) {
	for i := 0; i < r.Clients; i++ {
		i := i
		e.Schedule(time.Duration(i)*r.Interval, func() { r.ask(e, i) })
	}
}

func (r *Enumerator) ask(e *Engine, i int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eps, err := r.Ask(ctx, i)
	if err != nil {
		e.Logf(r.Name(), FlowKey{}, "fake client %d: %v", i, err)
		return
	}
	for _, ep := range eps {
		r.mu.Lock()
		if r.learned == nil {
			r.learned = make(map[netip.AddrPort]bool)
		}
		fresh := !r.learned[ep]
		r.learned[ep] = true
		r.mu.Unlock()
		if fresh {
			e.BlockEndpoint(ep, r.BlockFor, fmt.Sprintf("learned by fake client %d", i))
		}
	}
}

// Learned returns every endpoint the fake clients learned.
func (r *Enumerator) Learned() []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []netip.AddrPort
	for ep := range r.learned {
		out = append(out, ep)
	}
	return out
}
