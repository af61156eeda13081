package relay

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samizdat-project/samizdat/internal/promreg"
)

// Metrics are the relay's aggregate counters, served for Prometheus
// (github.com/prometheus/client_golang) by Handler. They hold counts only:
// no address, no key, no per-client series. The counters stay plain
// atomics on the hot paths; the registry reads them at scrape time.
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

	reg *prometheus.Registry
}

type transportCounters struct {
	accepted atomic.Uint64 // connections the transport authenticated
}

// NewMetrics returns zeroed metrics with their own registry.
func NewMetrics() *Metrics {
	m := &Metrics{transports: map[string]*transportCounters{}}
	counter := promreg.Counter
	m.reg = promreg.New(
		acceptedCollector{m},
		promreg.Gauge("samizdat_relay_active", "Connections being relayed now.", &m.Active),
		counter("samizdat_relay_relayed_total", "Connections relayed to the upstream.", &m.Relayed),
		counter("samizdat_relay_upstream_failed_total", "Upstream dials that failed.", &m.UpstreamFailed),
		counter("samizdat_relay_rate_limited_total", "Connections refused by the per-IP rate limit.", &m.RateLimited),
		counter("samizdat_relay_over_cap_total", "Connections refused by the connection cap.", &m.OverCap),
		counter("samizdat_relay_idle_closed_total", "Relayed connections closed after the idle timeout.", &m.IdleClosed),
		counter("samizdat_relay_bytes_up_total", "Bytes from clients to the upstream.", &m.BytesUp),
		counter("samizdat_relay_bytes_down_total", "Bytes from the upstream to clients.", &m.BytesDown),
	)
	return m
}

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

var acceptedDesc = prometheus.NewDesc("samizdat_relay_accepted_total",
	"Connections that passed the transport's authentication, by transport.", []string{"transport"}, nil)

// acceptedCollector reports the accepted connections by transport.
type acceptedCollector struct{ m *Metrics }

func (c acceptedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- acceptedDesc }

func (c acceptedCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	names := make([]string, 0, len(c.m.transports))
	for n := range c.m.transports {
		names = append(names, n)
	}
	c.m.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		ch <- prometheus.MustNewConstMetric(acceptedDesc, prometheus.CounterValue, float64(c.m.Accepted(n)), n)
	}
}

// Registry is where the metrics are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics at any path.
func (m *Metrics) Handler() http.Handler { return promreg.Handler(m.reg) }

// WriteTo writes every metric in the Prometheus text format (0.0.4).
func (m *Metrics) WriteTo(w io.Writer) (int64, error) { return promreg.WriteText(w, m.reg) }
