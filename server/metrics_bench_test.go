package server

import "testing"

// The hot paths of the metrics: a counter add and a histogram observation
// (Store.Enqueue latency is observed on every Send).
//
//	go test ./server -run '^$' -bench 'Metrics' -count 6

func BenchmarkMetricsObserve(b *testing.B) {
	m := NewMetrics()
	b.RunParallel(func(pb *testing.PB) {
		v := 0.0
		for pb.Next() {
			m.enqueueSeconds.observe(v)
			v += 0.0001
			if v > 6 {
				v = 0
			}
		}
	})
}

func BenchmarkMetricsCounter(b *testing.B) {
	m := NewMetrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.SendsAcked.Add(1)
		}
	})
}
