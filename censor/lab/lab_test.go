package lab

import (
	"context"
	"github.com/samizdat-project/samizdat/internal/buildtest"
	"github.com/samizdat-project/samizdat/internal/testenv"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/censor"
)

// TestMetrics checks the report's arithmetic on a made-up run: u0's flow is
// refused at +1 s and its messages flow again at +4 s; one message u1 sent
// was acknowledged and never arrived.
func TestMetrics(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	clock := censor.NewFakeClock(t0)
	e := censor.New(censor.Config{Clock: clock})
	at := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	u0, u1 := &userStream{}, &userStream{}
	for n := 1; n <= 10; n++ {
		sent := time.Duration(n) * 500 * time.Millisecond
		u0.events = append(u0.events, UserEvent{T: at(sent), Ev: "sent", N: n}, UserEvent{T: at(sent + 10*time.Millisecond), Ev: "acked", N: n})
		u1.events = append(u1.events, UserEvent{T: at(sent), Ev: "sent", N: n}, UserEvent{T: at(sent + 10*time.Millisecond), Ev: "acked", N: n})
		// u0's messages 2..7 (sent 1 s..3.5 s) arrive at 4 s; u1's
		// message 5 never arrives.
		got := sent + 50*time.Millisecond
		if n >= 2 && n <= 7 {
			got = 4 * time.Second
		}
		u1.events = append(u1.events, UserEvent{T: at(got), Ev: "recv", From: "u0", N: n})
		if n != 5 {
			u0.events = append(u0.events, UserEvent{T: at(sent + 50*time.Millisecond), Ev: "recv", From: "u1", N: n})
		}
	}
	clock.Advance(time.Second)
	e.Logf("ip-blocklist", censor.FlowKey{Client: netip.AddrPortFrom(userAddr(0), 40000), Server: netip.MustParseAddrPort("198.18.10.2:443")}, "flow refused: drop")
	sc := &censor.Scenario{Name: "t", Recovery: censor.Recovery{Within: censor.Duration(10 * time.Second)}}
	r := buildReport(sc, Options{Every: 500 * time.Millisecond}, reportInput{
		t0: t0, tEnd: t0.Add(6 * time.Second), tDrained: t0.Add(7 * time.Second), duration: 6 * time.Second,
		streams: []*userStream{u0, u1}, engine: e, endpoints: []netip.AddrPort{netip.MustParseAddrPort("198.18.10.2:443")},
	})
	if r.Sent != 20 || r.Acked != 20 || r.Lost != 1 || len(r.LostMessages) != 1 || r.LostMessages[0] != "u1#5" {
		t.Errorf("sent %d acked %d lost %d %v; want 20, 20, 1 [u1#5]", r.Sent, r.Acked, r.Lost, r.LostMessages)
	}
	if r.DeliveredInRun != 19 {
		t.Errorf("delivered in run %d, want 19", r.DeliveredInRun)
	}
	if len(r.BlockEvents) != 1 || r.BlockEvents[0].Subject != "u0" || r.BlockEvents[0].Recovery == nil {
		t.Fatalf("block events %+v, want one for u0, recovered", r.BlockEvents)
	}
	// u0 is through again when a message it sent at or after +1 s arrives
	// (4 s) and one sent to it arrives (u1#2, sent 1 s, at 1.05 s): 3 s.
	if got := time.Duration(*r.BlockEvents[0].Recovery); got != 3*time.Second {
		t.Errorf("recovery %v, want 3s", got)
	}
	if !r.BlockEvents[0].PathOpen || r.BlockEvents[0].Judged != "recovered in time" {
		t.Errorf("block event judged %+v", r.BlockEvents[0])
	}
	if r.Pass {
		t.Error("a run that lost an acknowledged message passed")
	}
	// The same run against a scenario that wants 99% delivered names the
	// shortfall (19 of 20); one that wants 90% does not.
	for _, tc := range []struct {
		min  float64
		want bool
	}{{0.99, true}, {0.90, false}} {
		sc2 := &censor.Scenario{Name: "t", Recovery: censor.Recovery{Within: censor.Duration(10 * time.Second), MinDelivery: tc.min}}
		r2 := buildReport(sc2, Options{Every: 500 * time.Millisecond}, reportInput{
			t0: t0, tEnd: t0.Add(6 * time.Second), tDrained: t0.Add(7 * time.Second), duration: 6 * time.Second,
			streams: []*userStream{u0, u1}, engine: e, endpoints: []netip.AddrPort{netip.MustParseAddrPort("198.18.10.2:443")},
		})
		got := strings.Contains(strings.Join(r2.Reasons, "\n"), "below the scenario's minimum")
		if got != tc.want {
			t.Errorf("min_delivery %.2f at ratio %.3f: shortfall named %v, want %v (%v)", tc.min, r2.DeliveryRatio, got, tc.want, r2.Reasons)
		}
	}
}

// TestScenariosOnNamespaces runs every scenario in quick mode on network
// namespaces with the real samizdat binary, four at a time, and fails if
// any run loses an acknowledged message or recovers too slowly while an
// unblocked path exists. SAMIZDAT_LAB_OUT=DIR keeps lab.json and lab.html.
func TestScenariosOnNamespaces(t *testing.T) {
	testenv.Require(t, Available(), "root with ip, nft and nginx", "run as root; apt-get install iproute2 nftables nginx")
	if testing.Short() {
		t.Skip("the lab takes minutes; not in -short")
	}
	bin := buildtest.For(t)
	list, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	results := RunAll(ctx, list, Options{Binary: bin, Quick: true, Logf: t.Logf}, 4)
	t.Logf("%d scenarios in %v", len(list), time.Since(start).Round(time.Second))
	var reports []*Report
	for _, res := range results {
		t.Run(res.Scenario.Name, func(t *testing.T) {
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			reports = append(reports, res.Report)
			t.Logf("%v", res.Report.Cells())
			switch gap := res.Scenario.KnownGap; {
			case gap != "" && res.Report.Pass:
				t.Errorf("%s passes now: the known gap (%s) is closed; remove known_gap from its file and update docs/lab.md", res.Scenario.Name, gap)
			case gap != "":
				t.Logf("%s failed as its known gap says (%s): %v", res.Scenario.Name, gap, res.Report.Reasons)
			case !res.Report.Pass:
				t.Errorf("%s failed: %v", res.Scenario.Name, res.Report.Reasons)
			}
		})
	}
	t.Logf("\n%s", Markdown(reports))
	if dir := os.Getenv("SAMIZDAT_LAB_OUT"); dir != "" {
		for name, write := range map[string]func(*os.File) error{
			"lab.json": func(f *os.File) error { return WriteJSON(f, reports) },
			"lab.html": func(f *os.File) error { return WriteHTML(f, reports) },
		} {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := write(f); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
}
