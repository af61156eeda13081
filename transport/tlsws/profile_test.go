package tlsws

import (
	crand "crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// TestShapeLinkRoundTrip: the link form carries the relay's part of a
// profile exactly, and a spec built from a config carries it to the
// client's config.
func TestShapeLinkRoundTrip(t *testing.T) {
	p := (*ShapeProfile)(nil).ForLink()
	if p.Traces() != ShapeLinkTraces {
		t.Fatalf("ForLink kept %d traces of the built-in profile, want %d", p.Traces(), ShapeLinkTraces)
	}
	enc := p.EncodeLink()
	back, err := DecodeShapeLink(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(back.traces, p.traces, slices.Equal) {
		t.Fatalf("the link form changed the traces:\n%v\n%v", back.traces, p.traces)
	}
	cfg := DialConfig{Addr: "192.0.2.1:443", Host: "example.org", Secret: make([]byte, 32), Shape: p}
	got, err := ConfigFromSpec(cfg.Spec())
	if err != nil || got.ShapeErr != nil || got.Shape == nil || got.Shape.Traces() != p.Traces() {
		t.Fatalf("ConfigFromSpec: %v, %v, %+v", err, got.ShapeErr, got.Shape)
	}
	t.Logf("the link form of %d traces of at most %d records: %d characters", p.Traces(), shapeLinkRecords, len(enc))
}

// TestShapeLinkRejects: malformed link forms are errors that say so, and a
// spec carrying one still gives a config, which replays the built-in
// profile.
func TestShapeLinkRejects(t *testing.T) {
	good := (*ShapeProfile)(nil).ForLink().EncodeLink()
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	mutate := func(f func([]byte) []byte) string {
		return base64.RawURLEncoding.EncodeToString(f(slices.Clone(raw)))
	}
	for name, bad := range map[string]string{
		"not base64":      "!!",
		"empty":           "",
		"version 2":       mutate(func(b []byte) []byte { b[0] = 2; return b }),
		"no traces":       mutate(func(b []byte) []byte { b[1] = 0; return b }),
		"too many traces": mutate(func(b []byte) []byte { b[1] = ShapeLinkMaxTraces + 1; return b }),
		"cut short":       mutate(func(b []byte) []byte { return b[:len(b)-1] }),
		"trailing bytes":  mutate(func(b []byte) []byte { return append(b, 0) }),
		"zero records":    mutate(func(b []byte) []byte { b[3] = 0; return b }),
		"long check":      mutate(func(b []byte) []byte { return append(append(b[:2], 0xd1, 0x0f), b[3:]...) }),
		"tiny record":     mutate(func(b []byte) []byte { return append(b[:4], 1, 3, 0) }),
		"late record":     mutate(func(b []byte) []byte { return append(b[:4], 0xc0, 0x01, 0xff, 0x7f) }),
		"huge varint": mutate(func(b []byte) []byte {
			return append(b[:4], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
		}),
	} {
		if _, err := DecodeShapeLink(bad); !errors.Is(err, errShapeLink) {
			t.Errorf("%s: got %v, want a malformed-profile error", name, err)
		}
	}
	cfg := DialConfig{Addr: "192.0.2.1:443", Host: "example.org", Secret: make([]byte, 32)}
	spec := cfg.Spec()
	spec.Params[ParamShape] = "AQ"
	got, err := ConfigFromSpec(spec)
	if err != nil || got.Shape != nil || !errors.Is(got.ShapeErr, errShapeLink) {
		t.Fatalf("a spec with a malformed profile: %v, shape %v, %v", err, got.Shape, got.ShapeErr)
	}
	d, err := NewDialer(got)
	if err != nil || len(d.shape) != len(shapeTraces) {
		t.Fatalf("the dialer does not fall back to the built-in profile: %v", err)
	}
}

// TestShapeProfileVerify: a recorded profile's certificate checks (V)
// are read, kept by ForLink and the link form, and drawn by the dialer;
// a bad one is refused.
func TestShapeProfileVerify(t *testing.T) {
	p, err := ParseShapeProfile([]byte("# lab\nV40 S282@0 S282@0 C588@3 S414@5\nV120 C598@0 S282@0 S282@0 S414@0\nC598@0 S414@2\n"))
	if err != nil {
		t.Fatal(err)
	}
	link, err := DecodeShapeLink(p.ForLink().EncodeLink())
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{40 * time.Millisecond, 120 * time.Millisecond, 0}
	if !slices.Equal(link.verify, want) || link.Traces() != 3 {
		t.Fatalf("checks through the link form: %v, want %v", link.verify, want)
	}
	for range 20 {
		if d := link.verifyDelay(); !slices.Contains(want, d) {
			t.Fatalf("drew %v, not one of %v", d, want)
		}
	}
	if (*ShapeProfile)(nil).verifyDelay() != 0 {
		t.Fatal("the built-in profile makes the dialer wait")
	}
	for _, bad := range []string{"V-1 C598@0 S414@2", "Vx C598@0 S414@2", "V5000 C598@0 S414@2", "V40"} {
		if _, err := ParseShapeProfile([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzDecodeShapeLink(f *testing.F) {
	f.Add((*ShapeProfile)(nil).ForLink().EncodeLink())
	f.Add("AQE")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := DecodeShapeLink(s)
		if err != nil {
			return
		}
		again, err := DecodeShapeLink(p.EncodeLink())
		if err != nil || !slices.EqualFunc(again.traces, p.traces, slices.Equal) {
			t.Fatalf("a decoded profile does not survive its own encoding: %v", err)
		}
	})
}

// httpCoverProfile is a cover site served over HTTP/1.1 by nginx, as the
// lab's (censor/lab/testdata/cover-shape-profile.txt): the session
// tickets, one request and its answer. (A connection carrying a second
// request is left out: openTunnel's client reads only after its first
// write went, so the client's replay never counts the relay's later
// records and gives up waiting for them.)
const httpCoverProfile = `V60 C588@0 S282@1 S282@1 S414@1
V90 S282@0 S282@2 C588@3 S414@5
V40 C598@0 S282@15 S282@15 S414@15
`

// TestAdversaryHTTP1CoverOpening: tunnels replaying an HTTP/1.1 cover's
// profile open as its connections do, in the order of the trace: the
// client sends nothing past its request until the relay's records of the
// trace came (a browser waits for its answer), and what the trace had no
// room for (the secure channel's 1,378-byte first message) goes in
// records under the 2024 rule's 411 bytes while the rule looks. Before,
// the client sent that message as soon as its request was out, ahead of
// the relay's records (C C S S instead of C S S S: the lab's classifier
// caught those openings), and as a third large record (the lab's
// record-shape rule dropped one). And the relay's records that stand for
// nginx's two session tickets go together, as the trace shows: they waited
// 50 ms each for tunnel bytes that could not come yet.
func TestAdversaryHTTP1CoverOpening(t *testing.T) {
	p, err := ParseShapeProfile([]byte(httpCoverProfile))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := SelfSigned("cover.test")
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	crand.Read(secret)
	cover, err := net.Listen("tcp", "127.0.0.1:0") // the sorter dials the cover for every connection
	if err != nil {
		t.Fatal(err)
	}
	defer cover.Close()
	ln, err := ListenStandalone(StandaloneConfig{Addr: "127.0.0.1:0", Secret: secret, CoverAddr: cover.Addr().String(), Certificate: &cert, Shape: p})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := DialConfig{Addr: ln.Addr().String(), Host: "cover.test", Secret: secret, Pin: PinOf(cert.Leaf), Shape: p}
	want := map[string]bool{}
	for _, tr := range p.traces {
		want[directions(tr, len(tr))] = true
	}
	for i := range 12 {
		start := time.Now()
		recs := openTunnel(t, ln, cfg)
		took := time.Since(start)
		var got []shapeRecord
		for _, r := range recs {
			got = append(got, shapeRecord{up: r.up, size: r.size})
		}
		if !want[directions(got, 4)] {
			t.Errorf("opening %d starts %s (%s), not as a trace of the profile", i, directions(got, 4), shapeKey(recs, 10))
		}
		if largeRecordRule(recs) {
			t.Errorf("opening %d trips the 2024 rule: %s", i, shapeKey(recs, 12))
		}
		// nginx's two session tickets go together (0 ms apart in every
		// trace): so do the relay's records in their place, after the
		// request (the replay's path; a preamble has no waits for bytes).
		for k := 2; k < min(4, len(recs)) && recs[0].up; k++ {
			if recs[k-1].size == 282 && recs[k].size == 282 && !recs[k].up && !recs[k-1].up {
				if gap := recs[k].at - recs[k-1].at; gap > 20*time.Millisecond {
					t.Errorf("opening %d: the relay's two ticket-sized records %v apart (%s)", i, gap, shapeKey(recs, 6))
				}
			}
		}
		if took < 40*time.Millisecond {
			t.Errorf("opening %d took %v, less than the profile's shortest certificate check", i, took)
		}
	}
}

// directions writes the first n records of a trace as C and S.
func directions(tr []shapeRecord, n int) string {
	var b []byte
	for _, r := range tr[:min(n, len(tr))] {
		if r.up {
			b = append(b, 'C')
		} else {
			b = append(b, 'S')
		}
	}
	return string(b)
}
