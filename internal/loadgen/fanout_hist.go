package loadgen

import (
	"bytes"
	"math"
	"strconv"
	"sync/atomic"
)

const maxPhases = 32
const latBuckets = 400 // bucket i holds latencies around exp(i/20) microseconds

// LatencyHist is a lock-free log-scale histogram per phase of the fanout
// latencies, from the post's send and from its due time.
type LatencyHist struct {
	fromSent     [maxPhases][latBuckets]atomic.Int64
	fromDue      [maxPhases][latBuckets]atomic.Int64
	total        [maxPhases]atomic.Int64
	pushes       [maxPhases]atomic.Int64
	firstSent    [maxPhases]atomic.Int64
	lastReceived [maxPhases]atomic.Int64
}

// postTimes is what a bench post's body says.
type postTimes struct {
	phase     int
	due, sent int64 // unix nanoseconds
}

// parseBody reads "phase due-nanos send-nanos" from a post body.
func parseBody(b []byte) (postTimes, bool) {
	var f [3]int64
	for i := range f {
		b = bytes.TrimLeft(b, " ")
		end := bytes.IndexByte(b, ' ')
		if end < 0 {
			return postTimes{}, false
		}
		v, err := strconv.ParseInt(string(b[:end]), 10, 64)
		if err != nil {
			return postTimes{}, false
		}
		f[i], b = v, b[end:]
	}
	return postTimes{phase: int(f[0]), due: f[1], sent: f[2]}, f[0] >= 0 && f[0] < maxPhases
}

func latBucket(ns int64) int {
	us := max(float64(ns)/1e3, 1)
	return min(int(math.Log(us)*20), latBuckets-1)
}

func (h *LatencyHist) add(t postTimes, now int64) {
	if t.phase < 0 || t.phase >= maxPhases {
		return
	}
	p := t.phase
	h.fromSent[p][latBucket(now-t.sent)].Add(1)
	h.fromDue[p][latBucket(now-t.due)].Add(1)
	h.total[p].Add(1)
	for {
		f := h.firstSent[p].Load()
		if (f != 0 && f <= t.sent) || h.firstSent[p].CompareAndSwap(f, t.sent) {
			break
		}
	}
	for {
		l := h.lastReceived[p].Load()
		if l >= now || h.lastReceived[p].CompareAndSwap(l, now) {
			break
		}
	}
}

// addPush counts one push (frame or message) whose first post is of phase.
func (h *LatencyHist) addPush(phase int) {
	if phase >= 0 && phase < maxPhases {
		h.pushes[phase].Add(1)
	}
}

func histQuantileMs(counts *[latBuckets]atomic.Int64, n int64, q float64) float64 {
	target := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range counts {
		seen += counts[i].Load()
		if seen >= target && seen > 0 {
			return math.Exp(float64(i)/20) / 1e3 // ms (bucket's lower bound)
		}
	}
	return 0
}

func (h *LatencyHist) Results() []FanoutPhase {
	var out []FanoutPhase
	for p := 0; p < maxPhases; p++ {
		n := h.total[p].Load()
		if n == 0 {
			if p > 0 && h.total[p-1].Load() == 0 {
				break
			}
			out = append(out, FanoutPhase{})
			continue
		}
		secs := float64(h.lastReceived[p].Load()-h.firstSent[p].Load()) / 1e9
		out = append(out, FanoutPhase{Deliveries: n, PerSecond: float64(n) / secs, Pushes: h.pushes[p].Load(),
			P50Ms: histQuantileMs(&h.fromSent[p], n, 0.5), P99Ms: histQuantileMs(&h.fromSent[p], n, 0.99),
			DueP50Ms: histQuantileMs(&h.fromDue[p], n, 0.5), DueP99Ms: histQuantileMs(&h.fromDue[p], n, 0.99)})
	}
	return out
}
