package censor

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// The inner-shape classifier (docs/lab.md, "inner-shape"): the censor's
// analyst records TLS flows of a real browser visiting the cover site and
// tunnel openings, both inside the lab, and trains a model over the first
// records of a flow: for each position, the record's direction, its size
// (log2 bins) and the gap since the previous record (decade bins). Each
// (position, direction, size, gap) token carries the log-likelihood ratio
// of the two classes (naive Bayes with add-one smoothing), so every verdict
// is a sum a person can read back record by record. The threshold is set on
// the training Chromium flows so that at most MaxFPR of them score above
// it: a censor's collateral-damage budget.

//go:embed testdata/inner-shape-flows.json
var innerShapeFixture []byte

// TraceRecord is one TLS record of a flow as the censor sees it without
// decrypting: its direction, its size with the 5-byte header, and the time
// since the flow's previous record (since the flow opened, for the first,
// the client's Finished).
type TraceRecord struct {
	Up    bool    `json:"up"`
	Size  int     `json:"size"`
	GapMS float64 `json:"gap_ms"`
}

// FlowTrace is the records of one flow from the client's Finished on, with its class:
// "chromium" (a browser on the cover site) or "tunnel".
type FlowTrace struct {
	Label   string        `json:"label"`
	Records []TraceRecord `json:"records"`
}

// ShapeFlows is the training fixture: what was recorded, how, and the flows.
type ShapeFlows struct {
	Command  string      `json:"command"`
	Recorded string      `json:"recorded"`
	Browser  string      `json:"browser"`
	Flows    []FlowTrace `json:"flows"`
}

// LoadShapeFlows returns the recorded fixture the inner-shape rule trains
// on (censor/testdata/inner-shape-flows.json).
func LoadShapeFlows() (*ShapeFlows, error) {
	var f ShapeFlows
	if err := json.Unmarshal(innerShapeFixture, &f); err != nil {
		return nil, fmt.Errorf("censor: reading the inner-shape fixture: %w", err)
	}
	return &f, nil
}

// Split returns the flows of label, divided into training and held-out
// sets: every fourth flow of the label is held out.
func (s *ShapeFlows) Split(label string) (train, held []FlowTrace) {
	n := 0
	for _, f := range s.Flows {
		if f.Label != label {
			continue
		}
		if n%4 == 3 {
			held = append(held, f)
		} else {
			train = append(train, f)
		}
		n++
	}
	return train, held
}

// ShapeModel is the trained classifier.
type ShapeModel struct {
	Window    int                  // records scored, from the first after the hellos
	Weights   []map[string]float64 // per position: token -> log(P(tunnel)/P(browser))
	Threshold float64              // a flow scoring above it is a tunnel
}

// shapeToken names a record for the model: direction, size bin, gap bin.
func shapeToken(r TraceRecord) string {
	dir := "down"
	if r.Up {
		dir = "up"
	}
	size := 64
	for size < 16384 && r.Size >= size {
		size *= 2
	}
	gap := "<1ms"
	switch {
	case r.GapMS >= 1000:
		gap = ">=1s"
	case r.GapMS >= 100:
		gap = "100ms-1s"
	case r.GapMS >= 10:
		gap = "10-100ms"
	case r.GapMS >= 1:
		gap = "1-10ms"
	}
	return fmt.Sprintf("%s <%dB %s", dir, size, gap)
}

// TrainShapeModel fits the model on browser and tunnel flows over the first
// window records, with the threshold that lets at most maxFPR of the
// browser flows through as tunnels. Flows shorter than window are never
// judged by the rule (it decides at the window-th record), so they train
// nothing.
func TrainShapeModel(browser, tunnel []FlowTrace, window int, maxFPR float64) (*ShapeModel, error) {
	full := func(fs []FlowTrace) []FlowTrace {
		return slices.DeleteFunc(slices.Clone(fs), func(f FlowTrace) bool { return len(f.Records) < window })
	}
	browser, tunnel = full(browser), full(tunnel)
	if window <= 0 || len(browser) == 0 || len(tunnel) == 0 {
		return nil, fmt.Errorf("censor: training the inner-shape model: %d browser and %d tunnel flows of %d records; need some of each",
			len(browser), len(tunnel), window)
	}
	m := &ShapeModel{Window: window, Weights: make([]map[string]float64, window)}
	for i := range window {
		cb, ct := map[string]float64{}, map[string]float64{}
		for _, f := range browser {
			cb[shapeToken(f.Records[i])]++
		}
		for _, f := range tunnel {
			ct[shapeToken(f.Records[i])]++
		}
		vocab := map[string]bool{}
		for k := range cb {
			vocab[k] = true
		}
		for k := range ct {
			vocab[k] = true
		}
		v := float64(len(vocab) + 1) // +1: the unseen token
		m.Weights[i] = map[string]float64{}
		for k := range vocab {
			pt := (ct[k] + 1) / (float64(len(tunnel)) + v)
			pb := (cb[k] + 1) / (float64(len(browser)) + v)
			m.Weights[i][k] = math.Log(pt / pb)
		}
	}
	scores := make([]float64, len(browser))
	for i, f := range browser {
		scores[i] = m.Score(f.Records)
	}
	slices.Sort(scores)
	allowed := int(maxFPR * float64(len(scores))) // browser flows that may score above
	m.Threshold = scores[len(scores)-1-allowed]
	return m, nil
}

// Score sums the log-likelihood ratios of the first Window records; a token
// the training never saw at that position adds 0 (no evidence).
func (m *ShapeModel) Score(recs []TraceRecord) float64 {
	s := 0.0
	for i := 0; i < m.Window && i < len(recs); i++ {
		s += m.Weights[i][shapeToken(recs[i])]
	}
	return s
}

// Tunnel reports whether the model blocks a flow of these records: only a
// flow with a full window is judged.
func (m *ShapeModel) Tunnel(recs []TraceRecord) bool {
	return len(recs) >= m.Window && m.Score(recs) > m.Threshold
}

// Explain lists the three records that weighed most toward "tunnel".
func (m *ShapeModel) Explain(recs []TraceRecord) string {
	type part struct {
		i int
		w float64
	}
	var parts []part
	for i := 0; i < m.Window && i < len(recs); i++ {
		parts = append(parts, part{i, m.Weights[i][shapeToken(recs[i])]})
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(b.w, a.w) })
	var out []string
	for _, p := range parts[:min(3, len(parts))] {
		out = append(out, fmt.Sprintf("record %d %s %+.1f", p.i+1, shapeToken(recs[p.i]), p.w))
	}
	return strings.Join(out, ", ")
}

// Rates counts the flows the model blocks and those it judges (flows of at
// least Window records; the rule lets shorter flows through unjudged).
func (m *ShapeModel) Rates(flows []FlowTrace) (blocked, judged int) {
	for _, f := range flows {
		if len(f.Records) < m.Window {
			continue
		}
		judged++
		if m.Tunnel(f.Records) {
			blocked++
		}
	}
	return blocked, judged
}

// InnerShape is the classifier as a rule: it follows both directions of
// every TLS flow to a destination outside Allow and, at the Window-th
// record after the hellos, black-holes the flow if the model scores it as a
// tunnel.
type InnerShape struct {
	Model *ShapeModel
	Allow []netip.Prefix
}

// NewInnerShape trains the rule's model on the training part of the
// recorded fixture.
func NewInnerShape(window int, maxFPR float64, allow []netip.Prefix) (*InnerShape, error) {
	flows, err := LoadShapeFlows()
	if err != nil {
		return nil, err
	}
	b, _ := flows.Split("chromium")
	t, _ := flows.Split("tunnel")
	m, err := TrainShapeModel(b, t, window, maxFPR)
	if err != nil {
		return nil, err
	}
	return &InnerShape{Model: m, Allow: allow}, nil
}

// Name implements Rule.
func (r *InnerShape) Name() string { return "inner-shape" }

// Open implements Rule.
func (r *InnerShape) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	return openExempt(r.Allow, f, &innerShapeFlow{rule: r, trace: newFlowTracer(f.Opened, r.Model.Window)})
}

type innerShapeFlow struct {
	rule  *InnerShape
	trace *flowTracer
	done  bool
}

func (s *innerShapeFlow) Data(f *Flow, dir Direction, seg []byte) Decision {
	if s.done {
		return Decision{}
	}
	if _, st := f.Hello(); st == HelloNone {
		s.done = true // not TLS: other rules judge it
		return Decision{}
	}
	full := s.trace.feed(f.Engine().Now(), dir, seg)
	if s.trace.broken() {
		s.done = true
		return Decision{}
	}
	if !full {
		return Decision{}
	}
	s.done = true
	m := s.rule.Model
	if !m.Tunnel(s.trace.records) {
		return Decision{}
	}
	f.Engine().Logf(s.rule.Name(), f.Key, "scored %.1f > %.1f as a tunnel: %s",
		m.Score(s.trace.records), m.Threshold, m.Explain(s.trace.records))
	return Decision{Verdict: Drop, Rule: s.rule.Name()}
}

// flowTracer turns a flow's segments, both directions, into TraceRecords,
// up to limit, from the client's first application-data record on: its
// Finished (TLS 1.3 and 1.2 alike). What comes before is the handshake,
// which the JA4 rule and the prober judge; the model looks at what the
// connection carries.
type flowTracer struct {
	readers [2]recordReader
	started bool
	last    time.Time
	limit   int
	records []TraceRecord
}

func newFlowTracer(opened time.Time, limit int) *flowTracer {
	return &flowTracer{last: opened, limit: limit}
}

// feed adds the records completed by seg and reports whether limit records
// are in.
func (t *flowTracer) feed(now time.Time, dir Direction, seg []byte) bool {
	for _, rec := range t.readers[dir].feed(seg) {
		if !t.started && (dir != ClientToServer || rec.typ != recordApplicationData) {
			continue // the handshake, up to the client's Finished
		}
		t.started = true
		if len(t.records) >= t.limit {
			continue
		}
		t.records = append(t.records, TraceRecord{Up: dir == ClientToServer, Size: rec.size,
			GapMS: float64(now.Sub(t.last).Microseconds()) / 1000})
		t.last = now
	}
	return len(t.records) >= t.limit
}

func (t *flowTracer) broken() bool { return t.readers[0].broken || t.readers[1].broken }

// ShapeRecorder records the first Limit records of every TLS flow Label
// names (Label returns "" for flows not to record); it never blocks. The lab
// runs it to make the inner-shape fixture.
type ShapeRecorder struct {
	Label func(FlowKey) string
	Limit int

	mu     sync.Mutex
	traces []*recordedFlow
}

type recordedFlow struct {
	label string
	t     *flowTracer
}

// Name implements Rule.
func (r *ShapeRecorder) Name() string { return "shape-recorder" }

// Open implements Rule.
func (r *ShapeRecorder) Open(e *Engine, f *Flow) (FlowRule, Decision) {
	label := r.Label(f.Key)
	if label == "" {
		return nil, Decision{}
	}
	rf := &recordedFlow{label: label, t: newFlowTracer(f.Opened, r.Limit)}
	r.mu.Lock()
	r.traces = append(r.traces, rf)
	r.mu.Unlock()
	return &shapeRecorderFlow{r: r, rf: rf}, Decision{}
}

type shapeRecorderFlow struct {
	r  *ShapeRecorder
	rf *recordedFlow
}

func (s *shapeRecorderFlow) Data(f *Flow, dir Direction, seg []byte) Decision {
	s.r.mu.Lock()
	s.rf.t.feed(f.Engine().Now(), dir, seg)
	s.r.mu.Unlock()
	return Decision{}
}

// Traces returns the flows recorded so far that carried records past the
// hellos and were TLS throughout.
func (r *ShapeRecorder) Traces() []FlowTrace {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []FlowTrace
	for _, rf := range r.traces {
		if len(rf.t.records) > 0 && !rf.t.broken() {
			out = append(out, FlowTrace{Label: rf.label, Records: slices.Clone(rf.t.records)})
		}
	}
	return out
}
