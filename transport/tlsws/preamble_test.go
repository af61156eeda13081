package tlsws

import (
	"slices"
	"testing"
	"time"
)

// TestPreambleParam: the link's preamble=none reaches the config and back;
// another value is an error.
func TestPreambleParam(t *testing.T) {
	cfg := DialConfig{Addr: "192.0.2.1:443", Host: "example.org", Secret: make([]byte, 32), NoPreamble: true}
	spec := cfg.Spec()
	if spec.Params[ParamPreamble] != "none" {
		t.Fatalf("the spec carries preamble=%q, want none", spec.Params[ParamPreamble])
	}
	if got, err := ConfigFromSpec(spec); err != nil || !got.NoPreamble {
		t.Fatalf("ConfigFromSpec: %v, NoPreamble %v", err, got.NoPreamble)
	}
	spec.Params[ParamPreamble] = "some"
	if _, err := ConfigFromSpec(spec); err == nil {
		t.Fatal("preamble=some was taken")
	}
}

// TestNoPreambleDialsAtOnce: a website-mode relay sends no preamble
// records, so a client told so (preamble=none) sends its request as the
// trace's client did; one not told so waits up to 100 ms for them in the
// traces that start with the server's record (153 of the built-in
// profile's 199), as a relay behind a web server cannot send them. The
// medians of dials taken in turns differ by about that.
func TestNoPreambleDialsAtOnce(t *testing.T) {
	_, cfg := testServer(t)
	told := cfg
	told.NoPreamble = true
	dialTime := func(cfg DialConfig) time.Duration {
		start := time.Now()
		c := dialWS(t, cfg)
		took := time.Since(start)
		c.Close()
		return took
	}
	var waited, direct []time.Duration
	for range 9 {
		waited = append(waited, dialTime(cfg))
		direct = append(direct, dialTime(told))
	}
	slices.Sort(waited)
	slices.Sort(direct)
	t.Logf("dial medians: %v without preamble=none, %v with it", waited[4], direct[4])
	if waited[4]-direct[4] < 50*time.Millisecond {
		t.Fatalf("preamble=none saved %v of the dial's median, want about 100 ms", waited[4]-direct[4])
	}
}
