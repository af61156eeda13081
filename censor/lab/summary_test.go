package lab

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/censor"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0 s",
		250 * time.Millisecond:                "250 ms",
		time.Second:                           "1 s",
		1500 * time.Millisecond:               "1.5 s",
		12345 * time.Millisecond:              "12.35 s",
		1570 * time.Millisecond:               "1.57 s", // seen as "1.5699999999999998 s" in a CI run
		time.Minute:                           "1 min",
		90 * time.Second:                      "1 min 30 s",
		2*time.Hour + 5*time.Minute:           "2 h 5 min",
		-2 * time.Second:                      "-2 s",
		59*time.Second + 999*time.Millisecond: "1 min",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// summaryHas fails the test for each of wants that r's summary lacks.
func summaryHas(t *testing.T, r *Report, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(r.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.Summary)
		}
	}
}

// reportRun builds a report from made-up user streams and censor events:
// before the censor goes live each user is on tlsws via relay r1; paths
// lists, per user, the path events after t0.
func reportRun(t *testing.T, logCensor func(e *censor.Engine, clock *censor.FakeClock), paths map[int][]UserEvent) *Report {
	t.Helper()
	t0 := time.Unix(1_700_000_000, 0)
	clock := censor.NewFakeClock(t0)
	e := censor.New(censor.Config{Clock: clock})
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	var streams []*userStream
	for i := 0; i < 2; i++ {
		s := &userStream{}
		s.events = append(s.events, UserEvent{T: ms(-3 * time.Second), Ev: "path", Text: `up relay "r1" (tlsws)`, From: "tlsws"})
		for _, ev := range paths[i] {
			ev.T = ms(time.Duration(ev.T) * time.Millisecond)
			s.events = append(s.events, ev)
		}
		for n := 1; n <= 8; n++ {
			sent := time.Duration(n) * 500 * time.Millisecond
			s.events = append(s.events, UserEvent{T: ms(sent), Ev: "sent", N: n}, UserEvent{T: ms(sent + 5*time.Millisecond), Ev: "acked", N: n})
		}
		streams = append(streams, s)
	}
	for n := 1; n <= 8; n++ {
		got := ms(time.Duration(n)*500*time.Millisecond + 40*time.Millisecond)
		streams[1].events = append(streams[1].events, UserEvent{T: got, Ev: "recv", From: "u0", N: n})
		streams[0].events = append(streams[0].events, UserEvent{T: got, Ev: "recv", From: "u1", N: n})
	}
	if logCensor != nil {
		logCensor(e, clock)
	}
	sc := &censor.Scenario{Name: "t", Recovery: censor.Recovery{Within: censor.Duration(5 * time.Second)}}
	return buildReport(sc, Options{Every: 250 * time.Millisecond}, reportInput{
		t0: t0, tEnd: t0.Add(5 * time.Second), tDrained: t0.Add(6 * time.Second), duration: 5 * time.Second,
		streams: streams, engine: e, known: map[string][]netip.AddrPort{},
	})
}

// TestReportSummaryNoActionButPathsLost is the case of issue #13: the
// censor logged nothing against the users, yet both lost their tlsws path
// when it went live and ran on direct. The old page said only "the censor
// took no action against the users".
func TestReportSummaryNoActionButPathsLost(t *testing.T) {
	lost := []UserEvent{
		{T: 120, Ev: "path", Text: "down connection reset by peer"},
		{T: 800, Ev: "path", Text: `up direct "srv" (direct)`, From: "direct"},
	}
	r := reportRun(t, nil, map[int][]UserEvent{0: lost, 1: lost})
	summaryHas(t, r,
		"The censor took no action against the users' flows.",
		"u0 started on tlsws via relay r1, lost it when the censor went live (every open flow is cut then), then took direct at +800 ms and ended on direct",
		"u1 started on tlsws via relay r1, lost it when the censor went live",
	)
	tl := r.Timelines["u0"]
	if len(tl) != 3 || tl[0].Path != "tlsws via relay r1" || tl[1].Kind != "path down" || tl[2].Path != "direct" {
		t.Errorf("u0's timeline %+v", tl)
	}
}

// TestReportSummaryNamesTheCensorsActions: resets and an endpoint block
// are named with their rule, the flows counted once each, and the user's
// loss is tied to the action that preceded it.
func TestReportSummaryNamesTheCensorsActions(t *testing.T) {
	relay := netip.MustParseAddrPort("198.18.50.2:443")
	flow := func(user, port int) censor.FlowKey {
		return censor.FlowKey{Client: netip.AddrPortFrom(userAddr(user), uint16(port)), Server: relay}
	}
	logCensor := func(e *censor.Engine, clock *censor.FakeClock) {
		clock.Advance(2 * time.Second)
		e.Logf("fully-encrypted", flow(0, 40000), "c2s segment 1 (517 bytes): reset stall=false keep=0")
		e.Logf("fully-encrypted", flow(0, 40000), "c2s segment 2 (517 bytes): reset stall=false keep=0")
		e.Logf("fully-encrypted", flow(0, 40001), "c2s segment 1 (517 bytes): reset stall=false keep=0")
		e.Logf("fully-encrypted", flow(0, 40002), "c2s segment 1 (90 bytes): pass stall=false keep=0")
		e.Logf("endpoint-block", censor.FlowKey{Server: relay}, "blocked %s: probe answered like a relay", relay)
	}
	lost := map[int][]UserEvent{0: {
		{T: 2500, Ev: "path", Text: "down reset"},
		{T: 3100, Ev: "path", Text: `up direct "srv" (direct)`, From: "direct"},
	}}
	r := reportRun(t, logCensor, lost)
	summaryHas(t, r,
		"The censor reset 2 flows of u0 (fully-encrypted), blocked 1 endpoint (198.18.50.2:443) (endpoint-block).",
		"u0 started on tlsws via relay r1, lost it at +2.5 s (fully-encrypted: reset flows), then took direct at +3.1 s and ended on direct",
		"u1 stayed on tlsws via relay r1",
	)
	if len(r.CensorActions) != 2 || r.CensorActions[0].Flows != 2 || r.CensorActions[0].Events != 3 {
		t.Errorf("censor actions %+v", r.CensorActions)
	}
	// The same facts are in the JSON.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"summary":"The censor reset 2 flows`, `"user_timelines":{"u0":[`, `"censor_actions":[`, `"delivery_series":[{"second":0,"sent":2,"delivered":2}`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b)
		}
	}
}

// TestReportHTMLForAPerson: the page gives durations in human units, the
// summary line, each user's timeline and a delivery chart drawn inline,
// with no script.
func TestReportHTMLForAPerson(t *testing.T) {
	lost := []UserEvent{
		{T: 120, Ev: "path", Text: "down connection reset by peer"},
		{T: 800, Ev: "path", Text: `up direct "srv" (direct)`, From: "direct"},
	}
	r := reportRun(t, nil, map[int][]UserEvent{0: lost, 1: lost})
	var b strings.Builder
	if err := WriteHTML(&b, []*Report{r}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"250000000", "5000000000", "the censor took no action against the users<", "<script"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, want := range []string{
		"a message every 250 ms each, for 5 s",
		"lost it when the censor went live",
		`<h3>u0</h3>`,
		`<svg class="delivery"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestReportSummaryPathBack: a user that lost its path at the cut and took
// the same one again is told so, not as a change of path.
func TestReportSummaryPathBack(t *testing.T) {
	back := []UserEvent{
		{T: 10, Ev: "path", Text: "down unexpected EOF"},
		{T: 566, Ev: "path", Text: `up relay "r1" (tlsws)`, From: "tlsws"},
	}
	r := reportRun(t, nil, map[int][]UserEvent{0: back})
	summaryHas(t, r, "u0 started on tlsws via relay r1, lost it when the censor went live (every open flow is cut then), got it back at +566 ms and ended on tlsws via relay r1")
}
