package loadgen

import (
	"math"
	"testing"
)

func TestParseBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		want postTimes
		ok   bool
	}{
		{"3 1000 2000 xxxx", postTimes{phase: 3, due: 1000, sent: 2000}, true},
		{"0 5 6 ", postTimes{phase: 0, due: 5, sent: 6}, true},
		{"3 1000 2000", postTimes{}, false}, // no space after the last field
		{"3 x 2000 ", postTimes{}, false},
		{"99 1 2 ", postTimes{phase: 99, due: 1, sent: 2}, false}, // beyond maxPhases
		{"", postTimes{}, false},
	} {
		got, ok := parseBody([]byte(tc.body))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseBody(%q) = %+v, %v; want %+v, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

// TestLatHist: 99 posts 10 ms after their send and one 1 s after; the
// latencies from due include a 500 ms lag of the publisher.
func TestLatHist(t *testing.T) {
	var h LatencyHist
	for i := range 100 {
		lat := int64(10e6)
		if i == 99 {
			lat = 1e9
		}
		h.add(postTimes{phase: 1, due: 1e9, sent: 1.5e9}, 1.5e9+lat)
		if i%10 == 0 {
			h.addPush(1)
		}
	}
	res := h.Results()
	if len(res) < 2 || res[0].Deliveries != 0 {
		t.Fatalf("results = %+v; want an empty phase 0 and phase 1", res)
	}
	p := res[1]
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.06 } // buckets are 5% wide
	if p.Deliveries != 100 || p.Pushes != 10 {
		t.Errorf("deliveries %d pushes %d; want 100 and 10", p.Deliveries, p.Pushes)
	}
	if !near(p.P50Ms, 10) || !near(p.P99Ms, 10) {
		t.Errorf("from send p50 %.2f p99 %.2f; want about 10 and 10 (the 1 s one is the 100th)", p.P50Ms, p.P99Ms)
	}
	if !near(p.DueP50Ms, 510) {
		t.Errorf("from due p50 %.2f; want about 510", p.DueP50Ms)
	}
	if got := histQuantileMs(&h.fromSent[1], 100, 1); !near(got, 1000) {
		t.Errorf("from send max %.2f; want about 1000", got)
	}
}
