package censor

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/censor/fingerprint"
)

var t0 = time.Date(2018, 4, 16, 9, 0, 0, 0, time.UTC)

func testEngine(seed uint64, rules ...Rule) (*Engine, *FakeClock) {
	clk := NewFakeClock(t0)
	e := New(Config{Clock: clk, Seed: seed})
	e.Add(rules...)
	return e, clk
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// clientN returns a distinct client address per trial (so residual blocks of
// one trial do not touch the next).
func clientN(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// tlsHello returns a real-looking ClientHello record naming sni.
func tlsHello(seed uint64, sni string) []byte {
	return fingerprint.MTProtoFakeTLSHello(rand.New(rand.NewPCG(seed, 1)), sni)
}

func open(t *testing.T, e *Engine, k FlowKey) *Flow {
	t.Helper()
	f, d := e.Open(k)
	if d.Verdict != Pass {
		t.Fatalf("open %s: %v by %s", k, d.Verdict, d.Rule)
	}
	return f
}

// TestFullyEncryptedRandomFirstPacketsBlockedAtPaperRate: over 20,000 flows
// whose first packet is uniformly random (the paper's probes were random
// payloads of 1-1000 bytes), the share blocked among the non-exempt ones must
// be 0.263 within 4.5 standard deviations of the binomial.
func TestFullyEncryptedRandomFirstPacketsBlockedAtPaperRate(t *testing.T) {
	rule := &FullyEncrypted{Probability: 0.263, Residual: 180 * time.Second}
	e, _ := testEngine(1, rule)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 20000
	blocked, judged := 0, 0
	for i := 0; i < n; i++ {
		f := open(t, e, FlowKey{clientN(i), ap("198.18.20.1:443")})
		pkt := randomBytes(rng, 16+rng.IntN(985))
		exempt := FETExemption(pkt) != NotExempt
		d := f.Data(ClientToServer, pkt)
		if exempt && d.Verdict != Pass {
			t.Fatalf("exempt packet blocked")
		}
		if !exempt {
			judged++
			if d.Verdict == Drop {
				blocked++
			}
		}
	}
	p := float64(blocked) / float64(judged)
	sigma := math.Sqrt(0.263 * (1 - 0.263) / float64(judged))
	t.Logf("random first packets: %d of %d judged (%.2f%% exempt by chance), %d blocked = %.4f (paper 0.263, sigma %.4f); overall %.4f",
		judged, n, 100*float64(n-judged)/n, blocked, p, sigma, float64(blocked)/n)
	if math.Abs(p-0.263) > 4.5*sigma {
		t.Errorf("blocked share %.4f outside 0.263 +- %.4f", p, 4.5*sigma)
	}
	if judged < n*99/100 {
		t.Errorf("only %d of %d random packets were judged; random data should almost never be exempt", judged, n)
	}
}

// TestFullyEncryptedPrintablePrefixNeverBlocked: Ex2, with the rest random.
func TestFullyEncryptedPrintablePrefixNeverBlocked(t *testing.T) {
	rule := &FullyEncrypted{Probability: 1, Residual: 180 * time.Second}
	e, _ := testEngine(2, rule)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 5000; i++ {
		pkt := randomBytes(rng, 6+rng.IntN(1000))
		for j := 0; j < 6; j++ {
			pkt[j] = byte(0x20 + rng.IntN(0x7f-0x20))
		}
		f := open(t, e, FlowKey{clientN(i), ap("198.18.20.1:443")})
		if d := f.Data(ClientToServer, pkt); d.Verdict != Pass {
			t.Fatalf("packet %d with printable prefix %q blocked", i, pkt[:6])
		}
	}
}

func TestFETExemptions(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	// A random body whose own features exempt nothing: resample until so.
	body := func(n int) []byte {
		for {
			b := randomBytes(rng, n)
			b[0] = 0x00 // not printable, not TLS/HTTP
			if FETExemption(b) == NotExempt {
				return b
			}
		}
	}
	with := func(prefix []byte, n int) []byte {
		return append(append([]byte(nil), prefix...), body(n)[len(prefix):]...)
	}
	printableRun := func(n int) []byte {
		b := body(600)
		for i := 300; i < 300+n; i++ {
			b[i] = 'a'
		}
		b[299], b[300+n] = 0, 0
		return b
	}
	halfPrintable := func(frac float64) []byte {
		b := body(600)
		for i := 0; i < len(b); i++ {
			if float64(i%100) < frac*100 && i%15 != 0 { // runs shorter than 21
				b[i] = byte('A' + i%26)
			}
		}
		b[0] = 0x00
		return b
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		want Exemption
	}{
		{"random", body(600), NotExempt},
		{"all zero bytes (popcount 0)", make([]byte, 600), Ex1},
		{"all 0xff (popcount 8)", bytesOf(0xff, 600), Ex1},
		{"TLS ClientHello", tlsHello(1, "example.com"), Ex1}, // real hellos are mostly zeros: Ex1 already
		{"TLS handshake header + random", with([]byte{0x16, 0x03, 0x01}, 600), Ex5},
		{"TLS application data header + random", with([]byte{0x17, 0x03, 0x03}, 600), Ex5},
		{"TLS header with version byte 0x0a", with([]byte{0x16, 0x03, 0x0a}, 600), NotExempt},
		{"GET", with([]byte("GET "), 600), Ex5},
		{"POST", with([]byte("POST "), 600), Ex5},
		{"PUT", with([]byte("PUT "), 600), Ex5},
		{"HEAD", with([]byte("HEAD "), 600), Ex5},
		{"GET without space", with([]byte("GET\x00"), 600), NotExempt},
		{"six printable bytes", with([]byte("abcdef"), 600), Ex2},
		{"five printable bytes", with([]byte("\x00bcdef"), 600), NotExempt},
		{"run of 21 printable", printableRun(21), Ex4},
		{"run of 20 printable", printableRun(20), NotExempt},
		{"55% printable", halfPrintable(0.6), Ex3},
	} {
		if got := FETExemption(tc.pkt); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestFullyEncryptedResidualBlock: after a block the triple stays blocked
// for 180 s from the blocking packet (not extended by retries), then passes;
// other ports and other clients are not affected.
func TestFullyEncryptedResidualBlock(t *testing.T) {
	rule := &FullyEncrypted{Probability: 1, Residual: 180 * time.Second}
	e, clk := testEngine(3, rule)
	rng := rand.New(rand.NewPCG(9, 9))
	client, server := ap("10.0.0.1:40000"), ap("198.18.20.1:443")
	var pkt []byte
	for pkt == nil || FETExemption(pkt) != NotExempt {
		pkt = randomBytes(rng, 300)
	}
	f := open(t, e, FlowKey{client, server})
	if d := f.Data(ClientToServer, pkt); d.Verdict != Drop {
		t.Fatalf("first packet: %v, want drop", d.Verdict)
	}
	if d := f.Data(ClientToServer, []byte("GET / HTTP/1.1\r\n")); d.Verdict != Drop {
		t.Fatalf("later client packet of a blocked flow: %v, want drop", d.Verdict)
	}
	if d := f.Data(ServerToClient, []byte("x")); d.Verdict != Pass {
		t.Fatalf("server packet of a blocked flow: %v, want pass (only c2s is dropped)", d.Verdict)
	}
	for _, at := range []time.Duration{1 * time.Second, 60 * time.Second, 179 * time.Second} {
		clk.Advance(at - clk.Now().Sub(t0))
		if _, d := e.Open(FlowKey{ap("10.0.0.1:40001"), server}); d.Verdict != Drop {
			t.Errorf("new flow on the triple at +%v: %v, want drop", at, d.Verdict)
		}
	}
	if _, d := e.Open(FlowKey{ap("10.0.0.1:40002"), ap("198.18.20.1:8443")}); d.Verdict != Pass {
		t.Errorf("other server port blocked")
	}
	if _, d := e.Open(FlowKey{ap("10.0.0.2:40000"), server}); d.Verdict != Pass {
		t.Errorf("other client blocked")
	}
	clk.Advance(180*time.Second - clk.Now().Sub(t0))
	g := open(t, e, FlowKey{ap("10.0.0.1:40003"), server})
	if d := g.Data(ClientToServer, []byte("GET / HTTP/1.1\r\n")); d.Verdict != Pass {
		t.Errorf("after 180 s: %v, want pass", d.Verdict)
	}
}

// TestThrottleRate: flows naming twitter.com are paced to 130-150 kbit/s,
// measured on the fake clock; other names are not delayed.
func TestThrottleRate(t *testing.T) {
	rule := &Throttle{SNIs: []string{"twitter.com", "twimg.com"}, MinBPS: 130e3, MaxBPS: 150e3}
	e, _ := testEngine(4, rule)
	minR, maxR := math.Inf(1), 0.0
	for i := 0; i < 50; i++ {
		f := open(t, e, FlowKey{clientN(i), ap("198.18.30.1:443")})
		hello := tlsHello(uint64(i), "abs.twimg.com")
		f.Data(ClientToServer, hello)
		var last time.Duration
		const seg, n = 1400, 200 // 280 KB, arriving all at once
		for j := 0; j < n; j++ {
			last = f.Data(ServerToClient, make([]byte, seg)).Delay
		}
		rate := float64(seg*n*8) / last.Seconds()
		minR, maxR = min(minR, rate), max(maxR, rate)
		if rate < 130e3*0.999 || rate > 150e3*1.001 {
			t.Errorf("flow %d: %.0f bit/s, want 130-150 kbit/s", i, rate)
		}
	}
	t.Logf("throttled download rates over 50 flows: %.1f-%.1f kbit/s", minR/1e3, maxR/1e3)
	f := open(t, e, FlowKey{clientN(99), ap("198.18.30.1:443")})
	f.Data(ClientToServer, tlsHello(1, "example.com"))
	if d := f.Data(ServerToClient, make([]byte, 1<<20)); d.Delay != 0 {
		t.Errorf("unlisted SNI delayed by %v", d.Delay)
	}
}

// TestStallBetween16And20KB: flows to foreign hosting freeze after a
// per-flow 16-20 KB; flows elsewhere carry 1 MB.
func TestStallBetween16And20KB(t *testing.T) {
	rule := &Stall{Servers: []netip.Prefix{netip.MustParsePrefix("198.18.64.0/18")}, MinBytes: 16 << 10, MaxBytes: 20 << 10}
	e, _ := testEngine(5, rule)
	lo, hi := math.MaxInt, 0
	for i := 0; i < 200; i++ {
		f := open(t, e, FlowKey{clientN(i), ap("198.18.70.1:443")})
		delivered := 0
		if d := f.Data(ClientToServer, make([]byte, 517)); d.Verdict == Pass && !d.Stall {
			delivered += 517
		}
		frozen := false
		for j := 0; j < 40 && !frozen; j++ {
			d := f.Data(ServerToClient, make([]byte, 1000))
			switch {
			case d.Verdict == Pass && d.Stall:
				delivered += d.Keep
				frozen = true
			case d.Verdict == Pass:
				delivered += 1000
			default:
				t.Fatalf("flow %d: %v before the stall", i, d.Verdict)
			}
		}
		if !frozen {
			t.Fatalf("flow %d never stalled", i)
		}
		for _, dir := range []Direction{ClientToServer, ServerToClient} {
			if d := f.Data(dir, []byte("x")); d.Verdict != Drop {
				t.Fatalf("after the stall, %s: %v, want drop", dir, d.Verdict)
			}
		}
		lo, hi = min(lo, delivered), max(hi, delivered)
		if delivered < 16<<10 || delivered > 20<<10 {
			t.Errorf("flow %d froze after %d bytes, want 16384-20480", i, delivered)
		}
	}
	t.Logf("stall points over 200 flows: %d-%d bytes", lo, hi)
	f := open(t, e, FlowKey{clientN(999), ap("198.18.10.1:443")})
	for j := 0; j < 1000; j++ {
		if d := f.Data(ServerToClient, make([]byte, 1000)); d.Verdict != Pass || d.Stall {
			t.Fatalf("unlisted server stalled at %d KB", j)
		}
	}
}

// TestIPBlocklistGrowsOnSchedule: the Russia 2018 stages, scaled to lab
// addresses, join the list at their times; flows already open die when
// their server is listed.
func TestIPBlocklistGrowsOnSchedule(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	rule := &IPBlocklist{Stages: []Stage{
		{0, pfx("198.18.10.1/32", "198.18.10.2/32"), "server addresses"},
		{time.Hour, pfx("198.18.16.0/20"), "cloud A"},
		{2 * time.Hour, pfx("198.18.0.0/16", "198.18.17.0/24"), "everything"},
	}}
	e, clk := testEngine(6, rule)
	cloud := FlowKey{ap("10.0.0.1:40000"), ap("198.18.17.5:443")}
	early := open(t, e, cloud)
	want := []struct {
		at    time.Duration
		addrs uint64
	}{{0, 2}, {time.Hour, 2 + 4096}, {2 * time.Hour, 65536}}
	for _, w := range want {
		clk.Advance(w.at - clk.Now().Sub(t0))
		if got := rule.Addresses(); got != w.addrs {
			t.Errorf("at +%v: %d addresses blocked, want %d", w.at, got, w.addrs)
		}
	}
	clk2 := NewFakeClock(t0)
	e2 := New(Config{Clock: clk2})
	rule2 := &IPBlocklist{Stages: rule.Stages}
	e2.Add(rule2)
	check := func(server string, want Verdict) {
		t.Helper()
		if _, d := e2.Open(FlowKey{ap("10.0.0.1:40000"), ap(server)}); d.Verdict != want {
			t.Errorf("at +%v, %s: %v, want %v", clk2.Now().Sub(t0), server, d.Verdict, want)
		}
	}
	check("198.18.10.1:443", Drop)
	check("198.18.17.5:443", Pass)
	clk2.Advance(59 * time.Minute)
	check("198.18.17.5:443", Pass)
	clk2.Advance(time.Minute)
	check("198.18.17.5:443", Drop)
	check("198.18.40.1:443", Pass)
	clk2.Advance(time.Hour)
	check("198.18.40.1:443", Drop)
	check("198.19.0.1:443", Pass)
	if d := early.Data(ClientToServer, []byte("hello")); d.Verdict != Drop {
		t.Errorf("flow opened before the growth: %v, want drop", d.Verdict)
	}
}

func TestSNIDenylistAndAllowlist(t *testing.T) {
	deny := &SNIDenylist{Names: []string{"telegram.org"}}
	e, _ := testEngine(7, deny)
	hello := tlsHello(1, "web.telegram.org")
	f := open(t, e, FlowKey{clientN(1), ap("198.18.10.1:443")})
	if d := f.Data(ClientToServer, hello[:100]); d.Verdict != Pass {
		t.Errorf("partial hello: %v", d.Verdict)
	}
	if d := f.Data(ClientToServer, hello[100:]); d.Verdict != Reset {
		t.Errorf("denylisted SNI: %v, want reset", d.Verdict)
	}
	g := open(t, e, FlowKey{clientN(2), ap("198.18.10.1:443")})
	if d := g.Data(ClientToServer, tlsHello(2, "nottelegram.org")); d.Verdict != Pass {
		t.Errorf("other SNI: %v, want pass", d.Verdict)
	}

	allow := &Allowlist{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")}, SNIs: []string{"vk.com", "cdn.example"}}
	e, _ = testEngine(8, allow)
	for _, tc := range []struct {
		server string
		first  []byte
		want   Verdict
	}{
		{"198.19.1.1:443", []byte("anything at all"), Pass},
		{"198.18.10.1:443", tlsHello(3, "vk.com"), Pass},
		{"198.18.10.1:443", tlsHello(4, "front.cdn.example"), Pass},
		{"198.18.10.1:443", tlsHello(5, "telegram.org"), Drop},
		{"198.18.10.1:443", []byte("GET / HTTP/1.1\r\nHost: vk.com\r\n\r\n"), Drop},
		{"198.18.10.1:443", randomBytes(rand.New(rand.NewPCG(1, 1)), 100), Drop},
	} {
		f := open(t, e, FlowKey{clientN(3), ap(tc.server)})
		if d := f.Data(ClientToServer, tc.first); d.Verdict != tc.want {
			t.Errorf("allowlist %s %.20q: %v, want %v", tc.server, tc.first, d.Verdict, tc.want)
		}
	}
}

// TestFingerprintDenylistMTProto: the MTProto fake-TLS hello, split over
// three segments, is dropped once complete; a hello with another JA4 passes.
func TestFingerprintDenylistMTProto(t *testing.T) {
	rule := &FingerprintDenylist{JA4: []string{fingerprint.MTProtoJA4}}
	e, _ := testEngine(9, rule)
	for i := 0; i < 20; i++ {
		hello := tlsHello(uint64(i), "www.google.com")
		f := open(t, e, FlowKey{clientN(i), ap("198.18.10.1:443")})
		for j, part := range [][]byte{hello[:3], hello[3:300], hello[300:]} {
			d := f.Data(ClientToServer, part)
			if want := map[bool]Verdict{true: Drop, false: Pass}[j == 2]; d.Verdict != want {
				t.Fatalf("hello %d part %d: %v, want %v", i, j, d.Verdict, want)
			}
		}
	}
	// A denylist of another fingerprint (a later Chrome with 17
	// extensions) leaves the MTProto hello alone.
	rule2 := &FingerprintDenylist{JA4: []string{"t13d1517h2_8daaf6152771_b6f405a00624"}}
	e2, _ := testEngine(10, rule2)
	f := open(t, e2, FlowKey{clientN(1), ap("198.18.10.1:443")})
	if d := f.Data(ClientToServer, tlsHello(1, "www.google.com")); d.Verdict != Pass {
		t.Errorf("hello dropped by a denylist without its JA4")
	}
}

func TestExemptSourcesAreNeverCensored(t *testing.T) {
	clk := NewFakeClock(t0)
	e := New(Config{Clock: clk, Exempt: []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24")}})
	e.Add(&IPBlocklist{Stages: []Stage{{0, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, "all"}}})
	if _, d := e.Open(FlowKey{ap("198.18.1.9:40000"), ap("198.18.10.1:443")}); d.Verdict != Pass {
		t.Errorf("prober's own flow censored: %v", d.Verdict)
	}
	if _, d := e.Open(FlowKey{ap("10.0.0.1:40000"), ap("198.18.10.1:443")}); d.Verdict != Drop {
		t.Errorf("client flow: %v, want drop", d.Verdict)
	}
}
