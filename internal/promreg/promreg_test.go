package promreg

import (
	"strings"
	"sync/atomic"
	"testing"
)

// TestReadAtScrape: the atomics are read when the registry is gathered,
// and the text format carries their names, types and values.
func TestReadAtScrape(t *testing.T) {
	var c atomic.Uint64
	var g atomic.Int64
	reg := New(Counter("x_total", "Xs.", &c), Gauge("y", "Y now.", &g))
	c.Add(3)
	g.Store(-2)
	var b strings.Builder
	if _, err := WriteText(&b, reg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# TYPE x_total counter\nx_total 3\n", "# TYPE y gauge\ny -2\n", "go_goroutines "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}
