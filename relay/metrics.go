package relay

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// Metrics are the relay's aggregate counters, served in the Prometheus text
// format (0.0.4) by Handler. They hold counts only: no address, no key, no
// per-client series. (The exposition helpers mirror server/metrics.go's
// unexported promWriter; a shared internal package would remove the copy.)
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
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.WriteTo(w)
	})
}

// WriteTo writes every metric in the Prometheus text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	p := &promWriter{w: w}
	m.mu.Lock()
	names := make([]string, 0, len(m.transports))
	for n := range m.transports {
		names = append(names, n)
	}
	m.mu.Unlock()
	sort.Strings(names)
	p.header("samizdat_relay_accepted_total", "Connections that passed the transport's authentication, by transport.", "counter")
	for _, n := range names {
		p.printf("samizdat_relay_accepted_total{transport=%q} %d\n", n, m.Accepted(n))
	}
	p.metric("samizdat_relay_active", "Connections being relayed now.", "gauge", m.Active.Load())
	p.metric("samizdat_relay_relayed_total", "Connections relayed to the upstream.", "counter", m.Relayed.Load())
	p.metric("samizdat_relay_upstream_failed_total", "Upstream dials that failed.", "counter", m.UpstreamFailed.Load())
	p.metric("samizdat_relay_rate_limited_total", "Connections refused by the per-IP rate limit.", "counter", m.RateLimited.Load())
	p.metric("samizdat_relay_over_cap_total", "Connections refused by the connection cap.", "counter", m.OverCap.Load())
	p.metric("samizdat_relay_idle_closed_total", "Relayed connections closed after the idle timeout.", "counter", m.IdleClosed.Load())
	p.metric("samizdat_relay_bytes_up_total", "Bytes from clients to the upstream.", "counter", m.BytesUp.Load())
	p.metric("samizdat_relay_bytes_down_total", "Bytes from the upstream to clients.", "counter", m.BytesDown.Load())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.metric("go_goroutines", "Number of goroutines that currently exist.", "gauge", runtime.NumGoroutine())
	p.metric("go_memstats_heap_inuse_bytes", "Heap bytes in use.", "gauge", ms.HeapInuse)
	p.metric("go_memstats_sys_bytes", "Bytes obtained from the system.", "gauge", ms.Sys)
	return p.n, p.err
}

// promWriter writes the text exposition format with a sticky error.
type promWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (p *promWriter) printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	n, err := fmt.Fprintf(p.w, format, args...)
	p.n += int64(n)
	p.err = err
}

func (p *promWriter) header(name, help, typ string) {
	p.printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p *promWriter) metric(name, help, typ string, v any) {
	p.header(name, help, typ)
	p.printf("%s %d\n", name, v)
}
