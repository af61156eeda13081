package promtext

import (
	"errors"
	"strings"
	"testing"
)

func TestWriterOutput(t *testing.T) {
	var b strings.Builder
	p := NewWriter(&b)
	p.Counter("x_total", "Things.", 3)
	p.Gauge("y", "Level.", 0.5)
	p.Header("z_total", "By kind.", "counter")
	p.Sample("z_total", `kind="a"`, 2)
	n, err := p.Result()
	want := "# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n" +
		"# HELP y Level.\n# TYPE y gauge\ny 0.5\n" +
		"# HELP z_total By kind.\n# TYPE z_total counter\nz_total{kind=\"a\"} 2\n"
	if err != nil || b.String() != want || n != int64(len(want)) {
		t.Fatalf("wrote %d bytes, err %v:\n%s\nwant:\n%s", n, err, b.String(), want)
	}
}

func TestFormatFloat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 42: "42", 0.25: "0.25", 1e15: "1e+15", -3: "-3"} {
		if got := FormatFloat(v); got != want {
			t.Errorf("FormatFloat(%v) = %s, want %s", v, got, want)
		}
	}
}

type failWriter struct{ calls int }

func (f *failWriter) Write(b []byte) (int, error) {
	f.calls++
	return 0, errors.New("broken")
}

func TestStickyError(t *testing.T) {
	f := &failWriter{}
	p := NewWriter(f)
	p.Counter("a", "A.", 1)
	p.Counter("b", "B.", 2)
	if _, err := p.Result(); err == nil || f.calls != 1 {
		t.Fatalf("err %v after %d writes; want the first error and no write after it", err, f.calls)
	}
}
