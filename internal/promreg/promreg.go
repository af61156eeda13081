// Package promreg puts the server's and the relay's counters on the
// Prometheus client library (github.com/prometheus/client_golang): plain
// atomics, read at scrape time, in a registry of their own with the Go
// runtime's metrics, served by promhttp and written in the text format.
// It is a bottom-floor helper: it imports nothing of the module.
package promreg

import (
	"io"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Counter is a counter family of one sample, read from v at scrape time.
func Counter(name, help string, v *atomic.Uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
}

// Gauge is a gauge family of one sample, read from v at scrape time.
func Gauge(name, help string, v *atomic.Int64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
}

// New returns a registry holding cs and the Go runtime's collector.
func New(cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(append(cs, collectors.NewGoCollector())...)
	return reg
}

// Handler serves g at any path (the text format unless the scraper asks
// for another).
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// WriteText writes every family of g in the Prometheus text format (0.0.4),
// for io.WriterTo.
func WriteText(w io.Writer, g prometheus.Gatherer) (n int64, err error) {
	families, err := g.Gather()
	for _, f := range families {
		k, werr := expfmt.MetricFamilyToText(w, f)
		if n += int64(k); werr != nil {
			return n, werr
		}
	}
	return n, err
}
