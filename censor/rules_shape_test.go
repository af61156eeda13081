package censor

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
)

// tlsRecord returns one TLS record of type typ whose size with the header
// is size bytes.
func tlsRecord(typ byte, size int) []byte {
	b := make([]byte, size)
	b[0], b[1], b[2] = typ, 3, 3
	binary.BigEndian.PutUint16(b[3:5], uint16(size-5))
	return b
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestRecordShapeBoundaries walks the rule's edges: the size threshold
// (410 vs 411 with the header), the count (2 vs 3), the window, records
// split across segments, the hello not counted, allowlisted destinations
// and non-TLS flows.
func TestRecordShapeBoundaries(t *testing.T) {
	hello := tlsHello(1, "relay-f.lab.example")
	ccs := tlsRecord(recordChangeCipherSpec, 6)
	small := tlsRecord(recordApplicationData, 80)
	at := func(n int) []byte { return tlsRecord(recordApplicationData, n) }
	for _, tc := range []struct {
		name   string
		server string
		segs   [][]byte
		want   Verdict
	}{
		{"three of 411 are a tunnel", "198.18.64.2:443", [][]byte{hello, concat(ccs, at(411), at(411), at(411))}, Drop},
		{"three of 410 are not", "198.18.64.2:443", [][]byte{hello, concat(ccs, at(410), at(410), at(410))}, Pass},
		{"two of 1400 are not", "198.18.64.2:443", [][]byte{hello, concat(ccs, at(1400), small, at(1400))}, Pass},
		{"split across segments", "198.18.64.2:443", [][]byte{hello, concat(ccs, at(500))[:300], concat(ccs, at(500))[300:], concat(at(600), at(700))[:100], concat(at(600), at(700))[100:]}, Drop},
		{"the hello does not count", "198.18.64.2:443", [][]byte{concat(hello, tlsRecord(recordHandshake, 1500)), concat(at(411), at(411))}, Pass},
		{"after the window", "198.18.64.2:443", [][]byte{hello, concat(ccs, small, small, small, small, small, small, small, small, small), concat(at(600), at(600), at(600))}, Pass},
		{"allowlisted destination", "198.19.0.2:443", [][]byte{hello, concat(ccs, at(600), at(600), at(600))}, Pass},
		{"not TLS", "198.18.64.2:443", [][]byte{[]byte("\x05\x60not tls at all, a fully encrypted first packet......"), concat(at(600), at(600), at(600))}, Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := &RecordShape{MinSize: 411, MinRecords: 3, Window: 10, Allow: []netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")}}
			if got := clientVerdict(t, rule, tc.server, tc.segs); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// clientVerdict sends segs from a client to server through an engine with
// rule alone, and returns the first verdict that is not Pass (Pass if
// none is).
func clientVerdict(t *testing.T, rule Rule, server string, segs [][]byte) Verdict {
	t.Helper()
	e, _ := testEngine(1, rule)
	f := open(t, e, FlowKey{clientN(1), ap(server)})
	for _, seg := range segs {
		if d := f.Data(ClientToServer, seg); d.Verdict != Pass {
			return d.Verdict
		}
	}
	return Pass
}

// TestRecordShapeIgnoresServerRecords: large records from the server (a
// page, a certificate chain) never count.
func TestRecordShapeIgnoresServerRecords(t *testing.T) {
	e, _ := testEngine(1, &RecordShape{MinSize: 411, MinRecords: 3})
	f := open(t, e, FlowKey{clientN(1), ap("198.18.64.2:443")})
	f.Data(ClientToServer, tlsHello(1, "a.example"))
	for i := 0; i < 10; i++ {
		if d := f.Data(ServerToClient, tlsRecord(recordApplicationData, 16000)); d.Verdict != Pass {
			t.Fatalf("server record %d: %v", i, d.Verdict)
		}
	}
}

// TestJA4AllowlistBoundaries: the allowed JA4 passes (also when its hello
// arrives in pieces), another JA4 and non-TLS bytes are reset, and an
// allowlisted destination is never judged.
func TestJA4AllowlistBoundaries(t *testing.T) {
	hello := tlsHello(7, "relay-a.lab.example")
	h, st := parseHello(t, hello)
	if st != HelloParsed {
		t.Fatal("fixture hello does not parse")
	}
	allowed := h.JA4()
	for _, tc := range []struct {
		name   string
		ja4s   []string
		server string
		segs   [][]byte
		want   Verdict
	}{
		{"allowed JA4", []string{allowed}, "198.18.16.2:443", [][]byte{hello, tlsRecord(recordApplicationData, 900)}, Pass},
		{"allowed JA4 in pieces", []string{allowed}, "198.18.16.2:443", [][]byte{hello[:40], hello[40:300], hello[300:]}, Pass},
		{"other JA4", []string{"t13d1517h2_8daaf6152771_cb7bf5808d99"}, "198.18.16.2:443", [][]byte{hello}, Reset},
		{"not TLS", []string{allowed}, "198.18.16.2:443", [][]byte{[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}, Reset},
		{"allowlisted destination", []string{"t13d1517h2_8daaf6152771_cb7bf5808d99"}, "198.19.0.2:443", [][]byte{hello}, Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := &JA4Allowlist{JA4s: tc.ja4s, Allow: []netip.Prefix{netip.MustParsePrefix("198.19.0.0/16")}}
			if got := clientVerdict(t, rule, tc.server, tc.segs); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// parseHello runs a hello through a throwaway flow to get what rules see.
func parseHello(t *testing.T, hello []byte) (*tlsfingerprint.ClientHello, HelloState) {
	t.Helper()
	e, _ := testEngine(1)
	f := open(t, e, FlowKey{clientN(2), ap("198.18.16.9:443")})
	f.Data(ClientToServer, hello)
	h, st := f.Hello()
	return h, st
}

// TestStallServerBytesOnly: with ServerBytesOnly the client's bytes do
// not count toward the freeze; the server's 15-20 KB do.
func TestStallServerBytesOnly(t *testing.T) {
	rule := &Stall{Servers: []netip.Prefix{netip.MustParsePrefix("198.18.64.0/18")}, MinBytes: 15 << 10, MaxBytes: 20 << 10, ServerBytesOnly: true}
	e, _ := testEngine(9, rule)
	for i := 0; i < 100; i++ {
		f := open(t, e, FlowKey{clientN(i), ap("198.18.70.1:443")})
		for j := 0; j < 100; j++ { // 100 KB upstream: never frozen
			if d := f.Data(ClientToServer, make([]byte, 1000)); d.Verdict != Pass || d.Stall {
				t.Fatalf("flow %d: client bytes froze the flow at %d KB", i, j)
			}
		}
		got := 0
		for j := 0; j < 40; j++ {
			d := f.Data(ServerToClient, make([]byte, 1000))
			if d.Stall {
				got += d.Keep
				break
			}
			got += 1000
		}
		if got < 15<<10 || got > 20<<10 {
			t.Errorf("flow %d froze after %d server bytes, want 15360-20480", i, got)
		}
		if d := f.Data(ClientToServer, []byte("x")); d.Verdict != Drop {
			t.Errorf("after the freeze the client's bytes: %v, want drop", d.Verdict)
		}
	}
}

// TestCompareAnswersTLS: two answers of one TLS server to the same replay
// differ in every random byte but not in their records' types and sizes;
// the prober must call them alike, and tell a different record layout
// apart.
func TestCompareAnswersTLS(t *testing.T) {
	rec := func(typ byte, n int, fill byte) []byte {
		b := append([]byte{typ, 3, 3, byte(n >> 8), byte(n)}, make([]byte, n)...)
		for i := 5; i < len(b); i++ {
			b[i] = fill + byte(i)
		}
		return b
	}
	a := Answer{Data: append(rec(22, 122, 1), rec(20, 1, 1)...), End: "fin", After: time.Second}
	b := Answer{Data: append(rec(22, 122, 9), rec(20, 1, 9)...), End: "fin", After: time.Second}
	if d := compareAnswers(a, b, 100*time.Millisecond); d != "" {
		t.Errorf("the same server's two answers judged different: %s", d)
	}
	c := Answer{Data: append(rec(22, 1210, 1), rec(20, 1, 1)...), End: "fin", After: time.Second}
	if d := compareAnswers(c, a, 100*time.Millisecond); d == "" {
		t.Error("a 1,210-byte ServerHello judged like a 122-byte one")
	}
	if d := compareAnswers(Answer{Data: []byte("HTTP/1.1 400 Bad Request\r\n"), End: "fin"}, a, time.Second); d == "" {
		t.Error("an HTTP answer judged like a TLS one")
	}
}

// TestCompareAnswersTLSSessionTicketJitter: the lab's cover answered two
// replays with a session-ticket record of 95 and 96 bytes; one server.
func TestCompareAnswersTLSSessionTicketJitter(t *testing.T) {
	mk := func(ticket int) Answer {
		var b []byte
		for _, r := range []tlsRec{{22, 1210}, {20, 1}, {23, 36}, {23, 398}, {23, ticket}, {23, 53}} {
			b = append(b, byte(r.typ), 3, 3, byte(r.n>>8), byte(r.n))
			b = append(b, make([]byte, r.n)...)
		}
		return Answer{Data: b, End: "fin", After: time.Second}
	}
	if d := compareAnswers(mk(96), mk(95), 100*time.Millisecond); d != "" {
		t.Errorf("one server's two answers judged different: %s", d)
	}
	if d := compareAnswers(mk(300), mk(95), 100*time.Millisecond); d == "" {
		t.Error("answers 205 bytes apart judged alike")
	}
}
