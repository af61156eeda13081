package server

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samizdat-project/samizdat/internal/promreg"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Metrics counts what the server does, for Prometheus
// (github.com/prometheus/client_golang) served by Handler. It never holds a
// payload, a key or an identifier: only counts and durations.
//
// The counters stay plain atomics on the hot paths; the registry reads them
// at scrape time (CounterFunc, GaugeFunc and a collector for the frames by
// type), so counting costs what it did before.
type Metrics struct {
	Connections      atomic.Uint64 // accepted TCP (or transport) connections
	OpenSessions     atomic.Int64  // sessions past the handshake, now open
	HandshakesFailed atomic.Uint64
	BadFrames        atomic.Uint64 // frames answered with a protocol error and a close
	Panics           atomic.Uint64 // recovered panics in session handlers
	SendsAcked       atomic.Uint64
	SendsDuplicate   atomic.Uint64 // retries acknowledged without a new delivery
	Delivered        atomic.Uint64 // Deliver pushes sent
	StaleEpoch       atomic.Uint64 // commits refused by the Delivery Service
	RateLimited      atomic.Uint64
	Refused          atomic.Uint64 // connections over the session cap, requests over a quota or the disk reserve
	Subscribers      atomic.Int64

	replay atomic.Pointer[func() securechan.Stats] // set by New: the secure channel's replay defence

	framesIn  [256]atomic.Uint64 // by request type (low byte of a request type)
	framesOut [3][256]atomic.Uint64

	enqueueSeconds histogram // Store.Enqueue latency as the server sees it
	batchSize      histogram // store commit batches, fed by ObserveBatch
	batchSeconds   histogram

	reg *prometheus.Registry
}

var (
	secondsBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	sizeBuckets    = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048}
)

// NewMetrics returns zeroed metrics with their own registry.
func NewMetrics() *Metrics {
	m := &Metrics{}
	m.enqueueSeconds = newHistogram("samizdat_store_enqueue_seconds", "Time from Send to durable enqueue, as the server sees it.", secondsBuckets)
	m.batchSize = newHistogram("samizdat_store_batch_size", "Sends per store commit (group commit).", sizeBuckets)
	m.batchSeconds = newHistogram("samizdat_store_batch_seconds", "Duration of one store commit.", secondsBuckets)
	counter, gauge := promreg.Counter, promreg.Gauge
	m.reg = promreg.New(
		counter("samizdat_connections_total", "Connections accepted.", &m.Connections),
		gauge("samizdat_sessions_open", "Sessions past the handshake, now open.", &m.OpenSessions),
		counter("samizdat_handshakes_failed_total", "Secure-channel handshakes that failed or timed out.", &m.HandshakesFailed),
		counter("samizdat_bad_frames_total", "Frames refused as malformed or out of protocol; each closed its session.", &m.BadFrames),
		counter("samizdat_panics_total", "Panics recovered in session handlers; each closed its session.", &m.Panics),
		counter("samizdat_sends_acked_total", "Sends acknowledged after they were durable.", &m.SendsAcked),
		counter("samizdat_sends_duplicate_total", "Retried Sends acknowledged without a second delivery.", &m.SendsDuplicate),
		counter("samizdat_deliveries_pushed_total", "Deliver pushes sent.", &m.Delivered),
		counter("samizdat_stale_epoch_total", "Commits refused by the Delivery Service (first commit wins).", &m.StaleEpoch),
		counter("samizdat_rate_limited_total", "Requests or connections refused by a rate limit.", &m.RateLimited),
		counter("samizdat_refused_total", "Connections over the session cap and writes over a quota or the disk reserve, refused.", &m.Refused),
		gauge("samizdat_subscribers", "Devices with a live subscription.", &m.Subscribers),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "samizdat_replay_cache_entries",
			Help: "First messages the secure channel's replay cache remembers now."},
			func() float64 { return float64(m.replayStats().Remembered) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "samizdat_handshake_retries_total",
			Help: "Retry cookies sent because the replay cache was full (a handshake flood)."},
			func() float64 { return float64(m.replayStats().Retries) }),
		framesCollector{m},
		m.enqueueSeconds, m.batchSize, m.batchSeconds,
	)
	return m
}

// replayStats reads the replay defence's counters (zero before New).
func (m *Metrics) replayStats() securechan.Stats {
	if f := m.replay.Load(); f != nil {
		return (*f)()
	}
	return securechan.Stats{}
}

// ObserveBatch records one store commit of n Sends that took d; a Store
// that reports its group commits calls it.
func (m *Metrics) ObserveBatch(n int, d time.Duration) {
	m.batchSize.observe(float64(n))
	m.batchSeconds.observe(d.Seconds())
}

func (m *Metrics) frameIn(t wire.Type) {
	if t.Class() == wire.ClassRequest {
		m.framesIn[byte(t)].Add(1)
	}
}

func (m *Metrics) frameOut(t wire.Type) {
	if c := t.Class(); c <= wire.ClassPush {
		m.framesOut[c][byte(t)].Add(1)
	}
}

// histogram is a Prometheus histogram with the name the server's code
// calls it by.
type histogram struct{ prometheus.Histogram }

func newHistogram(name, help string, buckets []float64) histogram {
	return histogram{prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})}
}

func (h histogram) observe(v float64) { h.Observe(v) }

var (
	framesInDesc  = prometheus.NewDesc("samizdat_frames_received_total", "Request frames received, by type.", []string{"type"}, nil)
	framesOutDesc = prometheus.NewDesc("samizdat_frames_sent_total", "Frames sent, by type.", []string{"type"}, nil)
)

// framesCollector reports the frame counters by type, the types seen only.
type framesCollector struct{ m *Metrics }

func (c framesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- framesInDesc
	ch <- framesOutDesc
}

func (c framesCollector) Collect(ch chan<- prometheus.Metric) {
	for i := range c.m.framesIn {
		if n := c.m.framesIn[i].Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(framesInDesc, prometheus.CounterValue, float64(n), wire.Type(i).String())
		}
	}
	for cl := range c.m.framesOut {
		for i := range c.m.framesOut[cl] {
			if n := c.m.framesOut[cl][i].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(framesOutDesc, prometheus.CounterValue, float64(n), wire.Type(cl<<8|i).String())
			}
		}
	}
}

// Registry is where the metrics are registered, for a caller that serves
// or gathers them itself.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics at any path in the Prometheus exposition
// formats (the text format unless the scraper asks for another).
func (m *Metrics) Handler() http.Handler { return promreg.Handler(m.reg) }

// WriteTo writes every metric in the Prometheus text format (0.0.4).
func (m *Metrics) WriteTo(w io.Writer) (int64, error) { return promreg.WriteText(w, m.reg) }
