package wire

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestResponseTypeCoversEveryRequest(t *testing.T) {
	for v := 0; v < 1<<16; v++ {
		typ := Type(v)
		r := ResponseType(typ)
		switch {
		case typ.Known() && typ.Class() == ClassRequest:
			if !r.Known() || r.Class() != ClassResponse {
				t.Errorf("ResponseType(%v) = %v, want a response type", typ, r)
			}
		case r != 0:
			t.Errorf("ResponseType(%v) = %v for a non-request", typ, r)
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		cmin, cmax, smin, smax, want uint16
		ok                           bool
	}{
		{1, 1, 1, 1, 1, true},
		{1, 3, 1, 2, 2, true},
		{2, 3, 1, 4, 3, true},
		{3, 4, 1, 2, 0, false},
		{1, 1, 2, 3, 0, false},
		{0, 0, 0, 0, 0, false},
	}
	for _, tc := range tests {
		got, ok := Negotiate(tc.cmin, tc.cmax, tc.smin, tc.smax)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Negotiate(%d..%d, %d..%d) = %d, %v; want %d, %v", tc.cmin, tc.cmax, tc.smin, tc.smax, got, ok, tc.want, tc.ok)
		}
	}
}

func TestErrorfAlwaysEncodes(t *testing.T) {
	for _, msg := range []string{"", "short", strings.Repeat("é", MaxErrorMessage), "bad \xff utf8", strings.Repeat("a", 5000)} {
		e := Errorf(CodeInternal, "%s", msg)
		if len(e.Message) > MaxErrorMessage || !utf8.ValidString(e.Message) {
			t.Fatalf("Errorf(%.20q) message is %d bytes, valid UTF-8 %v", msg, len(e.Message), utf8.ValidString(e.Message))
		}
		if _, err := Encode(Frame{RequestID: 1, Msg: e}); err != nil {
			t.Fatalf("Errorf(%.20q) does not encode: %v", msg, err)
		}
	}
	e := StaleEpoch(12)
	b, err := Encode(Frame{RequestID: 3, Msg: e})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(b)
	if err != nil || f.Msg.(*Error).CurrentEpoch != 12 || f.Msg.(*Error).Code != CodeStaleEpoch {
		t.Fatalf("StaleEpoch round trip: %+v, %v", f.Msg, err)
	}
}
