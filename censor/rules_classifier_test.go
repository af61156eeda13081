package censor

import (
	"math"
	"net/netip"
	"testing"
	"time"
)

// TestShapeTokenBins checks the bin edges: sizes in powers of two from 64
// bytes, gaps in decades from 1 ms.
func TestShapeTokenBins(t *testing.T) {
	for _, tc := range []struct {
		r    TraceRecord
		want string
	}{
		{TraceRecord{Up: true, Size: 63}, "up <64B <1ms"},
		{TraceRecord{Up: true, Size: 64}, "up <128B <1ms"},
		{TraceRecord{Size: 411, GapMS: 0.999}, "down <512B <1ms"},
		{TraceRecord{Size: 512, GapMS: 1}, "down <1024B 1-10ms"},
		{TraceRecord{Size: 16383, GapMS: 99.9}, "down <16384B 10-100ms"},
		{TraceRecord{Size: 16389, GapMS: 100}, "down <16384B 100ms-1s"},
		{TraceRecord{Size: 20, GapMS: 1000}, "down <64B >=1s"},
	} {
		if got := shapeToken(tc.r); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

// synthetic flows: a browser's request and answer, and a tunnel's run of
// client records, each with a size that varies by i.
func browserFlow(i int) FlowTrace {
	return FlowTrace{Label: "chromium", Records: []TraceRecord{
		{Up: true, Size: 58}, {Size: 100 + i%50}, {Up: true, Size: 600 + i%80}, {Size: 700 + i%200},
	}}
}

func tunnelFlow(i int) FlowTrace {
	return FlowTrace{Label: "tunnel", Records: []TraceRecord{
		{Up: true, Size: 58}, {Size: 100 + i%50}, {Up: true, Size: 300 + i%100}, {Up: true, Size: 300 + i%100},
	}}
}

// TestTrainShapeModel: the threshold lets through all but at most MaxFPR of
// the training browser flows, tunnels score above it, and the model refuses
// to train without both classes or judge a flow shorter than its window.
// sampleFlows returns n browser flows and n tunnel flows.
func sampleFlows(n int) (browser, tunnel []FlowTrace) {
	for i := range n {
		browser = append(browser, browserFlow(i))
		tunnel = append(tunnel, tunnelFlow(i))
	}
	return browser, tunnel
}

// trainedModel is a model trained on sampleFlows(n), window 4, 1% of
// browser flows blocked at most.
func trainedModel(t testing.TB, n int) *ShapeModel {
	t.Helper()
	browser, tunnel := sampleFlows(n)
	m, err := TrainShapeModel(browser, tunnel, 4, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTrainShapeModel(t *testing.T) {
	browser, tunnel := sampleFlows(200)
	// Two browser flows look like tunnels: with a 1% budget over 200
	// flows, the threshold sits above the second highest browser score,
	// so exactly these two (at most 2 of 200) are blocked.
	browser[7], browser[9] = tunnelFlow(7), tunnelFlow(9)
	m, err := TrainShapeModel(browser, tunnel, 4, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	fp, judged := m.Rates(browser)
	if judged != 200 || fp != 2 {
		t.Errorf("training browser flows blocked %d of %d, want the 2 tunnel-like ones of 200", fp, judged)
	}
	if det, _ := m.Rates(tunnel); det < 198 {
		t.Errorf("tunnels blocked %d of 200, want nearly all", det)
	}
	short := FlowTrace{Records: tunnelFlow(1).Records[:3]}
	if m.Tunnel(short.Records) {
		t.Error("a flow shorter than the window was judged")
	}
	if expl := m.Explain(tunnelFlow(3).Records); expl == "" {
		t.Error("no explanation")
	}
	if _, err := TrainShapeModel(browser, nil, 4, 0.01); err == nil {
		t.Error("trained without tunnel flows")
	}
	if _, err := TrainShapeModel(browser, tunnel, 5, 0.01); err == nil {
		t.Error("trained on flows all shorter than the window")
	}
}

// TestInnerShapeRule drives the rule through the engine: the hellos and
// the server's handshake records are not scored, the client's Finished is
// the first record, the window-th record decides, gaps come from the
// engine's clock, and allowlisted or non-TLS flows are not judged.
func TestInnerShapeRule(t *testing.T) {
	m := trainedModel(t, 100)
	hello := tlsHello(1, "relay-f.lab.example")
	serverFlight := concat(tlsRecord(recordHandshake, 90), tlsRecord(recordChangeCipherSpec, 6), tlsRecord(recordApplicationData, 2000))
	up := func(n int) step { return step{ClientToServer, tlsRecord(recordApplicationData, n)} }
	down := func(n int) step { return step{ServerToClient, tlsRecord(recordApplicationData, n)} }
	start := []step{{ClientToServer, hello}, {ServerToClient, serverFlight}, {ClientToServer, tlsRecord(recordChangeCipherSpec, 6)}}
	for _, tc := range []struct {
		name   string
		server string
		steps  []step
		want   Verdict
		at     int // the step that decides
	}{
		{"tunnel opening", "198.18.64.2:443", append(start, up(58), down(120), up(350), up(350)), Drop, 6},
		{"browser fetch", "198.18.64.2:443", append(start, up(58), down(120), up(640), down(900)), Pass, 0},
		{"tunnel shorter than the window", "198.18.64.2:443", append(start, up(58), down(120), up(350)), Pass, 0},
		{"allowlisted destination", "198.19.0.2:443", append(start, up(58), down(120), up(350), up(350)), Pass, 0},
		{"not TLS", "198.18.64.2:443", []step{{ClientToServer, []byte("\x05\x60not tls at all, a fully encrypted first packet")}, up(58), down(120), up(350), up(350)}, Pass, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := &InnerShape{Model: m, Allow: []netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")}}
			e, clk := testEngine(1, rule)
			f := open(t, e, FlowKey{clientN(1), ap(tc.server)})
			got, at := Pass, 0
			for i, s := range tc.steps {
				clk.Advance(time.Millisecond / 2)
				if d := f.Data(s.dir, s.seg); d.Verdict != Pass {
					got, at = d.Verdict, i
					break
				}
			}
			if got != tc.want || at != tc.at {
				t.Errorf("got %v at step %d, want %v at %d", got, at, tc.want, tc.at)
			}
		})
	}
}

type step struct {
	dir Direction
	seg []byte
}

// TestInnerShapeGaps: the recorder sees the engine clock's gaps, from the
// flow's opening for the first record, and records split across segments
// as one.
func TestInnerShapeGaps(t *testing.T) {
	rec := &ShapeRecorder{Label: func(FlowKey) string { return "x" }, Limit: 3}
	e, clk := testEngine(1, rec)
	f := open(t, e, FlowKey{clientN(1), ap("198.18.64.2:443")})
	f.Data(ClientToServer, tlsHello(1, "a.example"))
	clk.Advance(40 * time.Millisecond)
	f.Data(ServerToClient, tlsRecord(recordHandshake, 90))
	fin := tlsRecord(recordApplicationData, 58)
	f.Data(ClientToServer, fin[:10])
	clk.Advance(10 * time.Millisecond)
	f.Data(ClientToServer, fin[10:])
	clk.Advance(2 * time.Second)
	f.Data(ServerToClient, concat(tlsRecord(recordApplicationData, 300), tlsRecord(recordApplicationData, 70), tlsRecord(recordApplicationData, 70)))
	got := rec.Traces()
	want := []TraceRecord{{Up: true, Size: 58, GapMS: 50}, {Size: 300, GapMS: 2000}, {Size: 70}}
	if len(got) != 1 || len(got[0].Records) != 3 {
		t.Fatalf("traces %+v, want one of 3 records", got)
	}
	for i, r := range got[0].Records {
		if r != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, r, want[i])
		}
	}
}

// TestInnerShapeHeldOut trains the rule as analyst-2026 does, on three
// quarters of the recorded fixture, and measures it on the held-out
// quarter: the Chromium flows blocked (false positives, over every
// held-out flow: the rule lets flows shorter than its window through)
// must be a count that a rule within its 1% budget reaches in at least
// 5% of samples of that size (the binomial tail; for 84 flows: at most 3,
// which a rule at exactly 1% exceeds in one sample of a hundred), and the
// share of tunnel openings blocked is the figure docs/lab.md reports. (The
// bound was a flat 2%, which a rule exactly at 1% fails in one sample of
// five at this size: 2 of about 85 flows.)
func TestInnerShapeHeldOut(t *testing.T) {
	flows, err := LoadShapeFlows()
	if err != nil {
		t.Fatal(err)
	}
	rule, err := NewInnerShape(5, 0.01, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, browser := flows.Split("chromium")
	_, tunnel := flows.Split("tunnel")
	fp, bj := rule.Model.Rates(browser)
	tp, tj := rule.Model.Rates(tunnel)
	t.Logf("fixture of %s (%s): threshold %.2f; held out: Chromium %d of %d blocked (%d judged), tunnel openings %d of %d blocked (%d judged)",
		flows.Browser, flows.Recorded, rule.Model.Threshold, fp, len(browser), bj, tp, len(tunnel), tj)
	if len(browser) < 80 || len(tunnel) < 20 {
		t.Fatalf("held-out set too small: %d Chromium, %d tunnel flows", len(browser), len(tunnel))
	}
	if tail := binomialTail(len(browser), fp, 0.01); tail < 0.05 {
		t.Errorf("%d of %d held-out Chromium flows blocked: a rule within its 1%% budget shows that many with probability %.4f", fp, len(browser), tail)
	}
}

// binomialTail is P(X >= k) for X binomial with n trials of probability p.
func binomialTail(n, k int, p float64) float64 {
	below, term := 0.0, math.Pow(1-p, float64(n)) // P(X = 0)
	for i := 0; i < k; i++ {
		below += term
		term *= float64(n-i) / float64(i+1) * p / (1 - p)
	}
	return max(0, 1-below)
}

func TestBinomialTail(t *testing.T) {
	for _, c := range []struct {
		n, k int
		want float64
	}{{84, 0, 1}, {84, 2, 0.2053}, {84, 3, 0.0525}, {84, 4, 0.0102}, {84, 5, 0.0016}, {10, 10, 1e-20}} {
		if got := binomialTail(c.n, c.k, 0.01); math.Abs(got-c.want) > 0.0005 {
			t.Errorf("P(X >= %d | n=%d, p=0.01) = %.4f, want %.4f", c.k, c.n, got, c.want)
		}
	}
}

// FuzzInnerShape feeds arbitrary segments, both directions, to the rule
// and the recorder: no panic, and a verdict is pass or drop.
func FuzzInnerShape(f *testing.F) {
	f.Add(tlsHello(1, "a.example"), concat(tlsRecord(recordHandshake, 90), tlsRecord(recordApplicationData, 300)), tlsRecord(recordApplicationData, 58))
	f.Add([]byte{0x16, 3, 1, 0, 0}, []byte{0x17, 3, 3, 0xff, 0xff}, []byte{})
	m := trainedModel(f, 20)
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		rec := &ShapeRecorder{Label: func(FlowKey) string { return "x" }, Limit: 8}
		e, _ := testEngine(1, &InnerShape{Model: m}, rec)
		fl := open(t, e, FlowKey{clientN(1), ap("198.18.64.2:443")})
		for i, seg := range [][]byte{a, b, c, b, c, c} {
			dir := Direction(i % 2)
			if d := fl.Data(dir, seg); d.Verdict == Reset {
				t.Fatalf("segment %d reset the flow", i)
			}
		}
		rec.Traces()
	})
}
