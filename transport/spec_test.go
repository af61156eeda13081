package transport

import (
	"errors"
	"strings"
	"testing"
)

func TestSpecRoundTrip(t *testing.T) {
	for _, s := range []Spec{
		{Name: "direct", Addr: "127.0.0.1:443"},
		{Name: "tlsws", Addr: "[2001:db8::1]:443", Params: map[string]string{"host": "our.example", "sni": "front.example", "secret": "a+b/c=&d e%"}},
		{Name: "obfs4", Addr: "relay.example:9443", Params: map[string]string{"cert": "AbC", "iat-mode": "0"}},
	} {
		text := s.String()
		got, err := ParseSpec(text)
		if err != nil {
			t.Fatalf("ParseSpec(%q): %v", text, err)
		}
		if got.Name != s.Name || got.Addr != s.Addr || len(got.Params) != len(s.Params) {
			t.Fatalf("round trip of %q gave %+v", text, got)
		}
		for k, v := range s.Params {
			if got.Get(k) != v {
				t.Fatalf("param %s: got %q want %q", k, got.Get(k), v)
			}
		}
		if got.String() != text {
			t.Fatalf("text form not canonical: %q then %q", text, got.String())
		}
	}
}

func TestSpecCanonicalOrder(t *testing.T) {
	a := Spec{Name: "x", Addr: "h:1", Params: map[string]string{"b": "2", "a": "1", "c": "3"}}
	if got := a.String(); got != "x://h:1?a=1&b=2&c=3" {
		t.Fatalf("String() = %q, want sorted keys", got)
	}
}

func TestParseSpecRejects(t *testing.T) {
	for _, text := range []string{
		"", "direct", "direct:/h:1", "://h:1", "Direct://h:1", "9x://h:1",
		"direct://h", "direct://:443", "direct://h:0", "direct://h:65536", "direct://h:08",
		"direct://h:1?", "direct://h:1?a", "direct://h:1?a=1&a=2", "direct://h:1?A=1",
		"direct://h:1?a=%zz", "direct://h/x:1", "direct://u@h:1",
		"direct://h:1?" + strings.Repeat("a=1&", 2000),
	} {
		if s, err := ParseSpec(text); err == nil {
			t.Errorf("ParseSpec(%q) = %+v, want an error", text, s)
		} else if !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseSpec(%q): %v does not wrap ErrBadSpec", text, err)
		}
	}
}

func TestSpecErrorsHideValues(t *testing.T) {
	_, err := ParseSpec("tlsws://h:1?secret=%zzTOPSECRET")
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("error %v must not quote parameter values", err)
	}
}

func TestSpecCheck(t *testing.T) {
	s := Spec{Name: "tlsws", Addr: "h:443", Params: map[string]string{"host": "x"}}
	if err := s.Check("tlsws", "host", "sni"); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("obfs4", "host"); err == nil {
		t.Fatal("Check accepted the wrong transport name")
	}
	if err := s.Check("tlsws", "sni"); err == nil {
		t.Fatal("Check accepted an unknown parameter")
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add("tlsws://h:443?host=a&secret=b")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSpec(text)
		if err != nil {
			return
		}
		again, err := ParseSpec(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("%q parsed, but its canonical form %q does not round-trip: %v", text, s.String(), err)
		}
	})
}
