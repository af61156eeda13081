package tlsws

import (
	"encoding/base64"
	"errors"
	"slices"
	"testing"
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
		"zero records":    mutate(func(b []byte) []byte { b[2] = 0; return b }),
		"tiny record":     mutate(func(b []byte) []byte { return append(b[:3], 1, 3, 0) }),
		"late record":     mutate(func(b []byte) []byte { return append(b[:3], 0xc0, 0x01, 0xff, 0x7f) }),
		"huge varint": mutate(func(b []byte) []byte {
			return append(b[:3], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)
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
