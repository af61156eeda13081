package relay

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/samizdat-project/samizdat/internal/promtext"
)

// Metrics are the relay's aggregate counters, served in the Prometheus text
// format (0.0.4) by Handler. They hold counts only: no address, no key, no
// per-client series.
type Metrics struct {
	Active         atomic.Int64  // connections being relayed now
	Relayed        atomic.Uint64 // connections whose upstream dial succeeded
	UpstreamFailed atomic.Uint64 // upstream dials that failed or timed out
	RateLimited    atomic.Uint64 // connections refused by the per-IP limit
	OverCap        atomic.Uint64 // connections refused by MaxConns
	IdleClosed     atomic.Uint64 // relayed connections closed by the idle timeout
	BytesUp        atomic.Uint64 // client -> upstream
	BytesDown      atomic.Uint64 // upstream -> client

	mu         sync.Mutex // guards transports
	transports map[string]*transportCounters
}

type transportCounters struct {
	accepted atomic.Uint64 // connections the transport authenticated
}

// NewMetrics returns zeroed metrics.
func NewMetrics() *Metrics { return &Metrics{transports: map[string]*transportCounters{}} }

func (m *Metrics) forTransport(name string) *transportCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.transports[name]
	if c == nil {
		c = &transportCounters{}
		m.transports[name] = c
	}
	return c
}

// Accepted returns the connections accepted on the listener named name.
func (m *Metrics) Accepted(name string) uint64 { return m.forTransport(name).accepted.Load() }

// Handler serves the metrics at any path.
func (m *Metrics) Handler() http.Handler { return promtext.Handler(m) }

// WriteTo writes every metric in the Prometheus text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	p := promtext.NewWriter(w)
	m.mu.Lock()
	names := make([]string, 0, len(m.transports))
	for n := range m.transports {
		names = append(names, n)
	}
	m.mu.Unlock()
	sort.Strings(names)
	p.Header("samizdat_relay_accepted_total", "Connections that passed the transport's authentication, by transport.", "counter")
	for _, n := range names {
		p.Sample("samizdat_relay_accepted_total", fmt.Sprintf("transport=%q", n), float64(m.Accepted(n)))
	}
	p.Gauge("samizdat_relay_active", "Connections being relayed now.", float64(m.Active.Load()))
	p.Counter("samizdat_relay_relayed_total", "Connections relayed to the upstream.", m.Relayed.Load())
	p.Counter("samizdat_relay_upstream_failed_total", "Upstream dials that failed.", m.UpstreamFailed.Load())
	p.Counter("samizdat_relay_rate_limited_total", "Connections refused by the per-IP rate limit.", m.RateLimited.Load())
	p.Counter("samizdat_relay_over_cap_total", "Connections refused by the connection cap.", m.OverCap.Load())
	p.Counter("samizdat_relay_idle_closed_total", "Relayed connections closed after the idle timeout.", m.IdleClosed.Load())
	p.Counter("samizdat_relay_bytes_up_total", "Bytes from clients to the upstream.", m.BytesUp.Load())
	p.Counter("samizdat_relay_bytes_down_total", "Bytes from the upstream to clients.", m.BytesDown.Load())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.Gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	p.Gauge("go_memstats_heap_inuse_bytes", "Heap bytes in use.", float64(ms.HeapInuse))
	p.Gauge("go_memstats_sys_bytes", "Bytes obtained from the system.", float64(ms.Sys))
	return p.Result()
}
