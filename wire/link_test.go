package wire

import "testing"

// linkSamples are the device-linking messages' samples (and golden files).
func linkSamples() []sample {
	return []sample{
		{"LinkOpen", 30, &LinkOpen{Mailbox: id32(0x40), LinkKey: fill(0x90, 5)}},
		{"LinkLookup", 31, &LinkLookup{Mailbox: id32(0x40)}},
		{"LinkOffer", 31, &LinkOffer{DeviceKey: id32(0xd0), LinkKey: fill(0x90, 5), ExpiresAt: 1_790_000_600}},
		{"LinkApprove", 32, &LinkApprove{Mailbox: id32(0x40), Sealed: fill(0x70, 7)}},
		{"LinkFetch", 33, &LinkFetch{Mailbox: id32(0x40)}},
		{"LinkBlob", 33, &LinkBlob{Sealed: fill(0x70, 7)}},
		{"LinkBlob-pending", 33, &LinkBlob{}},
	}
}

func TestLinkMessages(t *testing.T) {
	for _, s := range linkSamples() {
		typ := s.msg.Type()
		if typ.Class() == ClassRequest && ResponseType(typ) == 0 {
			t.Errorf("%v has no response type", typ)
		}
	}
	// An empty link key or sealed account is refused both ways.
	for _, m := range []Message{&LinkOpen{}, &LinkApprove{}, &LinkOffer{}} {
		if _, err := Encode(Frame{RequestID: 1, Msg: m}); err == nil {
			t.Errorf("Encode accepted an empty %v", m.Type())
		}
	}
	// A link key over MaxLinkKey is refused.
	if _, err := Encode(Frame{RequestID: 1, Msg: &LinkOpen{LinkKey: make([]byte, MaxLinkKey+1)}}); err == nil {
		t.Error("Encode accepted an oversized link key")
	}
	// The largest sealed account fits in a frame.
	if _, err := Encode(Frame{RequestID: 1, Msg: &LinkApprove{Sealed: make([]byte, MaxLinkSealed)}}); err != nil {
		t.Errorf("the largest LinkApprove does not fit: %v", err)
	}
}
