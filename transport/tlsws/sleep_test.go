//go:build linux

package tlsws

import (
	"sort"
	"testing"
	"time"
)

// TestSleepUntilSubMillisecond: the replay's waits of a fraction of a
// millisecond (a server's answer 0.3 ms after the request) must take about
// that long. Go's timers took 1.1 ms for a 0.3 ms wait when the program
// idled, so every such answer of a trace came out at 1 ms or more and a
// classifier read the gap. The median of the last 50 of 100 waits of
// 0.3 ms (the overrun estimate has settled by then) stays near 0.3 ms.
// Linux only: elsewhere shortSleep is Go's timer, and such waits are as
// coarse as they were (sleep_other.go).
func TestSleepUntilSubMillisecond(t *testing.T) {
	const want = 300 * time.Microsecond
	var took []time.Duration
	for i := range 100 {
		start := time.Now()
		if !sleepUntil(start.Add(want), nil) {
			t.Fatal("sleepUntil reported a close without a closed channel")
		}
		if i >= 50 {
			took = append(took, time.Since(start))
		}
	}
	sort.Slice(took, func(a, b int) bool { return took[a] < took[b] })
	median := took[len(took)/2]
	t.Logf("waits of %v took %v (median), %v..%v; overrun estimate %v", want, median, took[0], took[len(took)-1], time.Duration(oversleep.Load()))
	if median < want/2 || median > 700*time.Microsecond {
		t.Errorf("a wait of %v took %v (median): want %v..700us", want, median, want/2)
	}
	closed := make(chan struct{})
	close(closed)
	if sleepUntil(time.Now().Add(5*time.Millisecond), closed) {
		t.Error("sleepUntil did not report the closed channel")
	}
}
