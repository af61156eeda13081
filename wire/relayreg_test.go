package wire

import (
	"errors"
	"testing"
)

// relayRegSamples are the relay registration messages' samples (and golden
// files).
func relayRegSamples() []sample {
	return []sample{
		{"RegisterRelay", 31, &RegisterRelay{Token: fill(0x7b, 16), Spec: "direct://192.0.2.7:8443", Label: "volunteer"}},
	}
}

func TestRegisterRelay(t *testing.T) {
	if got := ResponseType(TypeRegisterRelay); got != TypeOK {
		t.Fatalf("ResponseType(RegisterRelay) = %v, want OK", got)
	}
	if TypeRegisterRelay.Class() != ClassRequest {
		t.Fatal("RegisterRelay is not a request")
	}
	bad := []*RegisterRelay{
		{Token: fill(1, MinRelayToken-1), Spec: "direct://192.0.2.7:1"}, // token too short
		{Token: fill(1, MaxRelayToken+1), Spec: "direct://192.0.2.7:1"}, // token too long
		{Token: fill(1, MinRelayToken)},                                 // no spec
		{Token: fill(1, MinRelayToken), Spec: "x", Label: string(fill('a', MaxRelayLabel+1))},
		{Token: fill(1, MinRelayToken), Spec: "\xff"},
	}
	for i, m := range bad {
		if _, err := Encode(Frame{RequestID: 1, Msg: m}); err == nil {
			t.Errorf("bad[%d] encoded", i)
		}
	}
	// Decoding refuses the same: a frame with a short token.
	good, err := Encode(Frame{RequestID: 1, Msg: &RegisterRelay{Token: fill(1, MinRelayToken), Spec: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	short := append([]byte(nil), good...)
	short[HeaderSize+3] = MinRelayToken - 1 // length prefix of the token
	if _, err := Decode(short); err == nil {
		t.Error("a frame with a changed token length decoded")
	}
	if _, err := Decode(good[:len(good)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated RegisterRelay: %v, want ErrTruncated", err)
	}
}
