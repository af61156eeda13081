// Package promtext owns the writing of the Prometheus text exposition format
// (version 0.0.4): HELP and TYPE headers and samples, with a sticky error
// and a byte count so that a metrics type can implement io.WriterTo. It is
// a leaf used by the server's and the relay's metrics.
package promtext

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
)

// ContentType is the HTTP Content-Type of the format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves what m writes, at any path, as the text format.
func Handler(m io.WriterTo) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		m.WriteTo(w)
	})
}

// Writer writes the text exposition format to an io.Writer. After the first
// write error it writes nothing more; Result returns that error.
type Writer struct {
	w   io.Writer
	n   int64
	err error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Result returns the bytes written and the first write error, for WriteTo.
func (p *Writer) Result() (int64, error) { return p.n, p.err }

// Printf writes a formatted line fragment as is.
func (p *Writer) Printf(format string, args ...any) {
	if p.err != nil {
		return
	}
	n, err := fmt.Fprintf(p.w, format, args...)
	p.n += int64(n)
	p.err = err
}

// Header writes the HELP and TYPE lines of a metric family; typ is
// "counter", "gauge" or "histogram".
func (p *Writer) Header(name, help, typ string) {
	p.Printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// Sample writes one sample line; labels, if not empty, is the text between
// the braces (e.g. `type="Send"`).
func (p *Writer) Sample(name, labels string, v float64) {
	if labels != "" {
		name += "{" + labels + "}"
	}
	p.Printf("%s %s\n", name, FormatFloat(v))
}

// Counter writes a counter family of one unlabelled sample.
func (p *Writer) Counter(name, help string, v uint64) {
	p.Header(name, help, "counter")
	p.Sample(name, "", float64(v))
}

// Gauge writes a gauge family of one unlabelled sample.
func (p *Writer) Gauge(name, help string, v float64) {
	p.Header(name, help, "gauge")
	p.Sample(name, "", v)
}

// FormatFloat formats a sample value: integers (below 1e15) without a
// fraction or exponent, +Inf as the format spells it, the rest in the
// shortest form that reads back exactly.
func FormatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
