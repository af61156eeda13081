package obfs4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport/transporttest"
)

// "Never looks like X" tests for obfs4's first flight: the client handshake
// X' | P_C | M_C | MAC_C of the obfs4 spec (§4, "Handshake"), which the
// client sends in one write and then waits.

// Lengths from the obfs4 spec: X' is a 32-byte Elligator2 representative,
// M_C and MAC_C are 16 bytes each (HMAC-SHA256-128), and P_C is between
// clientMinPad and clientMaxPad bytes so that the handshake is at most 8192
// bytes and at least as long as the server's reply with its seed frame.
const (
	reprLen       = 32
	markLen       = 16
	macLen        = 16
	maxHandshake  = 8192
	clientMinPad  = (reprLen + 32 + markLen + macLen + 45) - (reprLen + markLen + macLen) // 77
	clientMaxPad  = maxHandshake - (reprLen + markLen + macLen)                           // 8128
	minFirstFlush = reprLen + clientMinPad + markLen + macLen                             // 141
)

// captureFirstFlight dials d over an in-memory pipe and returns the bytes
// the client sends before it waits for the server: the obfs4 client
// handshake. The capturing side knows the server's key, so it reads exactly
// up to M_C | MAC_C and no further.
func captureFirstFlight(t testing.TB, st *ServerState, d *Dialer) []byte {
	t.Helper()
	client, server := net.Pipe()
	dd := *d
	dd.DialContext = func(context.Context, string, string) (net.Conn, error) { return client, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		c, err := dd.Dial(ctx)
		if err == nil {
			c.Close()
		}
	}()
	defer server.Close()
	server.SetDeadline(time.Now().Add(10 * time.Second))
	key := append(st.publicKey[:], st.nodeID[:]...)
	buf := make([]byte, 0, maxHandshake)
	var mark []byte
	chunk := make([]byte, maxHandshake)
	for {
		n, err := server.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if mark == nil && len(buf) >= reprLen {
			mark = hmac256(key, buf[:reprLen])[:markLen]
		}
		if mark != nil && len(buf) >= minFirstFlush {
			if i := bytes.Index(buf[reprLen+clientMinPad:], mark); i >= 0 && len(buf) >= reprLen+clientMinPad+i+markLen+macLen {
				return buf
			}
		}
		if err != nil || len(buf) > maxHandshake {
			t.Fatalf("no complete client handshake in %d bytes: %v", len(buf), err)
		}
	}
}

func hmac256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// checkHandshakeLayout verifies one first flight against the obfs4 spec:
// total length, the mark M_C = HMAC-SHA256-128(B | NODEID, X') exactly 32
// bytes before the end, and MAC_C = HMAC-SHA256-128(B | NODEID, X' | P_C |
// M_C | E) at the end, E being the hours since the epoch (±1 at a boundary).
func checkHandshakeLayout(t testing.TB, st *ServerState, hs []byte) {
	t.Helper()
	if len(hs) < minFirstFlush || len(hs) > maxHandshake {
		t.Fatalf("handshake is %d bytes, spec says %d..%d", len(hs), minFirstFlush, maxHandshake)
	}
	key := append(st.publicKey[:], st.nodeID[:]...)
	markPos := len(hs) - markLen - macLen
	if want := hmac256(key, hs[:reprLen])[:markLen]; !hmac.Equal(hs[markPos:markPos+markLen], want) {
		t.Fatalf("M_C is not HMAC(B|NODEID, X') at offset %d", markPos)
	}
	if pad := markPos - reprLen; pad < clientMinPad || pad > clientMaxPad {
		t.Fatalf("P_C is %d bytes, spec says %d..%d", pad, clientMinPad, clientMaxPad)
	}
	hour := time.Now().Unix() / 3600
	for _, e := range []int64{hour, hour - 1, hour + 1} {
		want := hmac256(key, hs[:len(hs)-macLen], []byte(strconv.FormatInt(e, 10)))[:macLen]
		if hmac.Equal(hs[len(hs)-macLen:], want) {
			return
		}
	}
	t.Fatal("MAC_C does not verify for the current epoch hour")
}

// looksLikeTLSorHTTP is wider than the GFW's Ex5 rule
// (transporttest.CheckExemptions): any TLS record type of version 3.x and
// every HTTP method, since obfs4 must look like neither.
func looksLikeTLSorHTTP(p []byte) bool {
	// TLS record: content type handshake/application/alert/ccs, version 3.x.
	if len(p) >= 3 && p[0] >= 0x14 && p[0] <= 0x17 && p[1] == 0x03 && p[2] <= 0x04 {
		return true
	}
	for _, m := range []string{"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "} {
		if bytes.HasPrefix(p, []byte(m)) {
			return true
		}
	}
	return false
}

// firstSegment is what a censor sees as the first data packet on a path
// with a 1500-byte MTU: at most one MSS of the flight.
const mss = 1460

func firstSegment(flight []byte) []byte { return flight[:min(len(flight), mss)] }

// TestFirstFlightFollowsSpec checks many first flights against the obfs4
// spec's layout and against the things obfs4 must never look like.
func TestFirstFlightFollowsSpec(t *testing.T) {
	for _, mode := range []IATMode{IATNone, IATEnabled, IATParanoid} {
		st, err := GenerateServerState(mode)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := NewDialerParams("192.0.2.1:443", st.Params())
		var prev []byte
		for i := 0; i < 50; i++ {
			hs := captureFirstFlight(t, st, d)
			checkHandshakeLayout(t, st, hs)
			if looksLikeTLSorHTTP(hs) {
				t.Fatalf("iat-mode=%d: first flight starts like TLS or HTTP: % x", mode, hs[:8])
			}
			if prev != nil && bytes.Equal(prev[:reprLen], hs[:reprLen]) {
				t.Fatal("two dials sent the same ephemeral key representative")
			}
			prev = hs
		}
	}
}

// TestFirstPacketExemptionRules measures, over 1000 first flights, which of
// the GFW's 2023 exemption rules obfs4's first packet meets. obfs4 is fully
// random by design, so it must meet none but by rare chance (the figures
// are in SPEC.md); the test fails if more than 2% are exempt, which would
// mean the flight is not uniformly random. Run with -v for the numbers.
func TestFirstPacketExemptionRules(t *testing.T) {
	const n = 1000
	st, err := GenerateServerState(IATNone)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := NewDialerParams("192.0.2.1:443", st.Params())
	type tally struct{ popcount, first6, half, run20, protocol, any int }
	var whole, seg tally
	var pops, segPops, lens []float64
	var topBits [4]int
	count := func(tl *tally, e transporttest.Exemptions) {
		for _, r := range []struct {
			met bool
			n   *int
		}{
			{e.LowPopcount || e.HighPopcount, &tl.popcount}, {e.FirstSix, &tl.first6}, {e.HalfPrintable, &tl.half},
			{e.Contiguous20, &tl.run20}, {e.TLSLike || e.HTTPLike, &tl.protocol}, {e.Exempt(), &tl.any},
		} {
			if r.met {
				*r.n++
			}
		}
	}
	for i := 0; i < n; i++ {
		hs := captureFirstFlight(t, st, d)
		ew, es := transporttest.CheckExemptions(hs), transporttest.CheckExemptions(firstSegment(hs))
		count(&whole, ew)
		count(&seg, es)
		pops = append(pops, ew.PopcountPerByte)
		segPops = append(segPops, es.PopcountPerByte)
		lens = append(lens, float64(len(hs)))
		// The two top bits of X' (bits 254, 255 of the representative)
		// must be random too: a constant there was a known distinguisher
		// of early Elligator2 implementations.
		topBits[hs[reprLen-1]>>6]++
	}
	report := func(name string, tl tally) {
		t.Logf("%s: exempt by Ex1 popcount %d/%d, Ex2 first-6-printable %d, Ex3 >50%% printable %d, Ex4 >20 printable run %d, Ex5 TLS/HTTP %d; by any rule %d (%.1f%%), so %.1f%% subject to the 26.3%% block",
			name, tl.popcount, n, tl.first6, tl.half, tl.run20, tl.protocol, tl.any, 100*float64(tl.any)/n, 100-100*float64(tl.any)/n)
	}
	report("whole handshake", whole)
	report("first 1460-byte segment", seg)
	t.Logf("popcount/byte, whole handshake: %s", summary(pops))
	t.Logf("popcount/byte, first segment:   %s", summary(segPops))
	t.Logf("handshake length (bytes):       %s", summary(lens))
	t.Logf("top two bits of X'[31]: 00=%d 01=%d 10=%d 11=%d", topBits[0], topBits[1], topBits[2], topBits[3])

	if whole.any > n/50 || seg.any > n/50 {
		t.Errorf("%d (whole) / %d (segment) of %d first packets exempt: obfs4's handshake is not uniformly random", whole.any, seg.any, n)
	}
	if whole.protocol != 0 {
		t.Errorf("%d first packets start like TLS or HTTP", whole.protocol)
	}
	for v, c := range topBits {
		if c < n/8 {
			t.Errorf("top bits %02b of X' seen %d times of %d: the representative is not uniform", v, c, n)
		}
	}
	if mean := meanOf(pops); math.Abs(mean-4) > 0.02 {
		t.Errorf("mean popcount/byte %.4f, uniform random is 4", mean)
	}
}

func meanOf(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// summary returns min, 1st percentile, median, 99th percentile, max, mean
// and standard deviation.
func summary(xs []float64) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	m := meanOf(s)
	v := 0.0
	for _, x := range s {
		v += (x - m) * (x - m)
	}
	sd := math.Sqrt(v / float64(len(s)))
	q := func(p float64) float64 { return s[int(p*float64(len(s)-1))] }
	return fmt.Sprintf("min %.3f p1 %.3f p50 %.3f p99 %.3f max %.3f mean %.3f sd %.3f", s[0], q(0.01), q(0.5), q(0.99), s[len(s)-1], m, sd)
}
