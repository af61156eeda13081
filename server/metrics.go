package server

import (
	"io"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/internal/promtext"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Metrics counts what the server does, for the Prometheus text exposition
// format (version 0.0.4) served by Handler. It never holds a payload, a key
// or an identifier: only counts and durations.
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
}

var (
	secondsBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	sizeBuckets    = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048}
)

// NewMetrics returns zeroed metrics.
func NewMetrics() *Metrics {
	m := &Metrics{}
	m.enqueueSeconds.init(secondsBuckets)
	m.batchSize.init(sizeBuckets)
	m.batchSeconds.init(secondsBuckets)
	return m
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

// histogram is a fixed-bucket Prometheus histogram.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // one per bound, plus +Inf
	mu     sync.Mutex      // guards sum
	sum    float64
}

func (h *histogram) init(bounds []float64) {
	h.bounds = bounds
	h.counts = make([]atomic.Uint64, len(bounds)+1)
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i].Add(1)
	h.mu.Lock()
	h.sum += v
	h.mu.Unlock()
}

// Handler serves the metrics at any path in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return promtext.Handler(m) }

// WriteTo writes every metric in the Prometheus text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	p := promtext.NewWriter(w)
	p.Counter("samizdat_connections_total", "Connections accepted.", m.Connections.Load())
	p.Gauge("samizdat_sessions_open", "Sessions past the handshake, now open.", float64(m.OpenSessions.Load()))
	p.Counter("samizdat_handshakes_failed_total", "Secure-channel handshakes that failed or timed out.", m.HandshakesFailed.Load())
	p.Counter("samizdat_bad_frames_total", "Frames refused as malformed or out of protocol; each closed its session.", m.BadFrames.Load())
	p.Counter("samizdat_panics_total", "Panics recovered in session handlers; each closed its session.", m.Panics.Load())
	p.Counter("samizdat_sends_acked_total", "Sends acknowledged after they were durable.", m.SendsAcked.Load())
	p.Counter("samizdat_sends_duplicate_total", "Retried Sends acknowledged without a second delivery.", m.SendsDuplicate.Load())
	p.Counter("samizdat_deliveries_pushed_total", "Deliver pushes sent.", m.Delivered.Load())
	p.Counter("samizdat_stale_epoch_total", "Commits refused by the Delivery Service (first commit wins).", m.StaleEpoch.Load())
	p.Counter("samizdat_rate_limited_total", "Requests or connections refused by a rate limit.", m.RateLimited.Load())
	p.Counter("samizdat_refused_total", "Connections over the session cap and writes over a quota or the disk reserve, refused.", m.Refused.Load())
	if f := m.replay.Load(); f != nil {
		st := (*f)()
		p.Gauge("samizdat_replay_cache_entries", "First messages the secure channel's replay cache remembers now.", float64(st.Remembered))
		p.Counter("samizdat_handshake_retries_total", "Retry cookies sent because the replay cache was full (a handshake flood).", st.Retries)
	}
	p.Gauge("samizdat_subscribers", "Devices with a live subscription.", float64(m.Subscribers.Load()))

	p.Header("samizdat_frames_received_total", "Request frames received, by type.", "counter")
	for i := range m.framesIn {
		if n := m.framesIn[i].Load(); n > 0 {
			p.Sample("samizdat_frames_received_total", `type="`+wire.Type(i).String()+`"`, float64(n))
		}
	}
	p.Header("samizdat_frames_sent_total", "Frames sent, by type.", "counter")
	for c := range m.framesOut {
		for i := range m.framesOut[c] {
			if n := m.framesOut[c][i].Load(); n > 0 {
				p.Sample("samizdat_frames_sent_total", `type="`+wire.Type(c<<8|i).String()+`"`, float64(n))
			}
		}
	}
	writeHistogram(p, "samizdat_store_enqueue_seconds", "Time from Send to durable enqueue, as the server sees it.", &m.enqueueSeconds)
	writeHistogram(p, "samizdat_store_batch_size", "Sends per store commit (group commit).", &m.batchSize)
	writeHistogram(p, "samizdat_store_batch_seconds", "Duration of one store commit.", &m.batchSeconds)

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.Gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	p.Gauge("go_memstats_heap_inuse_bytes", "Heap bytes in use.", float64(ms.HeapInuse))
	p.Gauge("go_memstats_stack_inuse_bytes", "Stack bytes in use.", float64(ms.StackInuse))
	p.Gauge("go_memstats_sys_bytes", "Bytes obtained from the system.", float64(ms.Sys))
	return p.Result()
}

// writeHistogram writes h as a histogram family: cumulative buckets, sum
// and count.
func writeHistogram(p *promtext.Writer, name, help string, h *histogram) {
	p.Header(name, help, "histogram")
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		p.Sample(name+"_bucket", `le="`+promtext.FormatFloat(b)+`"`, float64(cum))
	}
	cum += h.counts[len(h.bounds)].Load()
	p.Sample(name+"_bucket", `le="+Inf"`, float64(cum))
	h.mu.Lock()
	sum := h.sum
	h.mu.Unlock()
	p.Sample(name+"_sum", "", sum)
	p.Sample(name+"_count", "", float64(cum))
}
