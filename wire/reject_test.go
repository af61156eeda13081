package wire

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// frame builds a raw version-1 frame from a header and body parts.
func frame(typ Type, id uint32, parts ...[]byte) []byte {
	w := writer{}
	w.u16(Version)
	w.u16(uint16(typ))
	w.u32(id)
	for _, p := range parts {
		w.fixed(p)
	}
	return w.Bytes()
}

func be16(v uint16) []byte { w := writer{}; w.u16(v); return w.Bytes() }
func be32(v uint32) []byte { w := writer{}; w.u32(v); return w.Bytes() }
func be64(v uint64) []byte { w := writer{}; w.u64(v); return w.Bytes() }

// sendBody returns a Send body with the given kind, raw recipients list and
// payload field.
func sendBody(kind byte, recipients []byte, payload []byte) [][]byte {
	return [][]byte{fill(0x50, 16), fill(0x60, 32), be64(7), {kind}, be32(uint32(len(recipients))), recipients, payload}
}

func withLen(b []byte) []byte { return append(be32(uint32(len(b))), b...) }

func TestDecodeRejects(t *testing.T) {
	rec := func(ids ...byte) []byte {
		var b []byte
		for _, id := range ids {
			b = append(b, fill(id, 32)...)
		}
		return b
	}
	manyRecipients := make([]byte, (MaxRecipients+1)*32)
	for i := 0; i < MaxRecipients+1; i++ {
		manyRecipients[i*32] = byte(i)
		manyRecipients[i*32+1] = byte(i >> 8)
	}
	var manyKPs []byte
	for i := 0; i <= MaxKeyPackages; i++ {
		manyKPs = append(manyKPs, withLen([]byte{byte(i)})...)
	}
	oneDevice := append(fill(0xd0, 32), fill(0x10, 64)...)
	tests := []struct {
		name    string
		in      []byte
		want    error
		context string // must appear in the error text
	}{
		{"empty", nil, ErrTruncated, "header"},
		{"short header", frame(TypePing, 1)[:7], ErrTruncated, "header"},
		{"version 0", append(be16(0), frame(TypePing, 1)[2:]...), ErrUnsupportedVersion, "version 0"},
		{"version 2", append(be16(2), frame(TypePing, 1)[2:]...), ErrUnsupportedVersion, "version 2"},
		{"type 0", frame(0, 1), ErrUnknownType, "0x0000"},
		{"type 0x00ff", frame(0x00ff, 1), ErrUnknownType, "0x00ff"},
		{"type 0x02ee", frame(0x02ee, 0), ErrUnknownType, "0x02ee"},
		{"oversize frame", frame(TypeSend, 1, make([]byte, MaxFrame)), ErrTooLarge, "frame is"},
		{"request id 0 on a request", frame(TypePing, 0), ErrInvalid, "decoding Ping: invalid value: request id 0"},
		{"request id 0 on a response", frame(TypeOK, 0), ErrInvalid, "decoding OK"},
		{"request id on a push", frame(TypeDeliver, 9, be64(1), fill(0x50, 16), fill(0x60, 32), be64(7), []byte{1}, withLen([]byte{1})), ErrInvalid, "on a push"},
		{"trailing byte on Ping", frame(TypePing, 1, []byte{0}), ErrTrailing, "decoding Ping"},
		{"huge payload length, tiny input", frame(TypeSend, 1, sendBody(1, rec(1), be32(0xffffffff))...), ErrTooLarge, "decoding Send: payload: too large: declared length 4294967295"},
		{"payload length within limit, beyond input", frame(TypeSend, 1, sendBody(1, rec(1), be32(MaxPayload))...), ErrTruncated, "decoding Send: payload"},
		{"payload one over limit", frame(TypeSend, 1, sendBody(1, rec(1), withLen(make([]byte, MaxPayload+1)))...), ErrTooLarge, "payload"},
		{"empty payload", frame(TypeSend, 1, sendBody(1, rec(1), be32(0))...), ErrInvalid, "payload"},
		{"huge recipients length", frame(TypeSend, 1, fill(0x50, 16), fill(0x60, 32), be64(7), []byte{1}, be32(0x7fffffff)), ErrTooLarge, "decoding Send: recipients"},
		{"too many recipients", frame(TypeSend, 1, sendBody(1, manyRecipients, withLen([]byte{1}))...), ErrTooLarge, "recipients"},
		{"recipients not a multiple of 32", frame(TypeSend, 1, sendBody(1, rec(1)[:31], withLen([]byte{1}))...), ErrTruncated, "recipients"},
		{"duplicate recipients", frame(TypeSend, 1, sendBody(1, rec(1, 1), withLen([]byte{1}))...), ErrInvalid, "recipients[1]: invalid value: duplicate"},
		{"no recipients on application", frame(TypeSend, 1, sendBody(1, nil, withLen([]byte{1}))...), ErrInvalid, "at least one recipient"},
		{"kind 0", frame(TypeSend, 1, sendBody(0, rec(1), withLen([]byte{1}))...), ErrInvalid, "kind"},
		{"kind 5", frame(TypeSend, 1, sendBody(5, rec(1), withLen([]byte{1}))...), ErrInvalid, "kind"},
		{"bool 2", frame(TypeKeyPackageCount, 1, be32(3), []byte{2}), ErrInvalid, "last_resort: invalid value: boolean or optional marker is neither 0 nor 1: 2"},
		{"bool 0xff in claimed package", frame(TypeKeyPackages, 1, withLen(append(append(fill(0xd0, 32), 0xff), withLen([]byte{1})...))), ErrInvalid, "boolean"},
		{"caught-up marker truncated", frame(TypeCaughtUp, 0, be32(7)), ErrTruncated, "decoding CaughtUp: up_to_seq"},
		{"caught-up marker with a trailing byte", frame(TypeCaughtUp, 0, be64(7), []byte{0}), ErrTrailing, "decoding CaughtUp"},
		{"caught-up marker with a request id", frame(TypeCaughtUp, 5, be64(7)), ErrInvalid, "on a push"},
		{"deliver seq 0", frame(TypeDeliver, 0, be64(0), fill(0x50, 16), fill(0x60, 32), be64(7), []byte{1}, withLen([]byte{1})), ErrInvalid, "seq"},
		{"unknown error code", frame(TypeError, 1, be16(999), be32(0), be64(0), be32(0)), ErrInvalid, "unknown error code 999"},
		{"epoch on a non-stale error", frame(TypeError, 1, be16(uint16(CodeInternal)), be32(0), be64(3), be32(0)), ErrInvalid, "current_epoch"},
		{"error message not UTF-8", frame(TypeError, 1, be16(1), be32(0), be64(0), withLen([]byte{0xff, 0xfe})), ErrInvalid, "UTF-8"},
		{"error message too long", frame(TypeError, 1, be16(1), be32(0), be64(0), withLen(bytes.Repeat([]byte("a"), MaxErrorMessage+1))), ErrTooLarge, "message"},
		{"too many key packages", frame(TypePublishKeyPackages, 1, withLen(manyKPs), be32(0)), ErrTooLarge, "key_packages"},
		{"empty key package", frame(TypePublishKeyPackages, 1, withLen(be32(0)), be32(0)), ErrInvalid, "key_packages[0]"},
		{"key package too large", frame(TypePublishKeyPackages, 1, withLen(withLen(make([]byte, MaxKeyPackageSize+1))), be32(0)), ErrTooLarge, "key_packages[0]"},
		{"nothing to publish", frame(TypePublishKeyPackages, 1, be32(0), be32(0)), ErrInvalid, "nothing to publish"},
		{"duplicate devices", frame(TypeDevices, 1, fill(0xa0, 32), withLen(append(append([]byte{}, oneDevice...), oneDevice...))), ErrInvalid, "duplicate device key"},
		{"duplicate claim ids", frame(TypeClaimKeyPackages, 1, fill(0xa0, 32), withLen(rec(3, 3))), ErrInvalid, "devices[1]"},
		{"client hello min > max", frame(TypeClientHello, 1, be16(2), be16(1)), ErrInvalid, "version range"},
		{"client hello min 0", frame(TypeClientHello, 1, be16(0), be16(1)), ErrInvalid, "version range"},
		{"server hello version outside range", frame(TypeServerHello, 1, be16(2), be16(1), be16(1), be64(0), bytes.Repeat(be32(1), 9)), ErrInvalid, "chosen version"},
		{"server hello limit above protocol", frame(TypeServerHello, 1, be16(1), be16(1), be16(1), be64(0), be32(MaxFrame+1), bytes.Repeat(be32(1), 8)), ErrInvalid, "limits.max_frame"},
		{"server hello zero limit", frame(TypeServerHello, 1, be16(1), be16(1), be16(1), be64(0), bytes.Repeat(be32(0), 9)), ErrInvalid, "limits.max_frame"},
		{"group info empty", frame(TypeGroupInfo, 1, fill(0x60, 32), be64(1), be32(0)), ErrInvalid, "group_info"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(tc.in)
			if err == nil {
				t.Fatalf("decoded %#v, want an error", f.Msg)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "wire: decoding") || !strings.Contains(err.Error(), tc.context) {
				t.Errorf("error %q lacks context %q", err, tc.context)
			}
		})
	}
}

// TestDecodeRejectsEveryTruncationAndTrailer cuts every sample at every
// length and appends a byte to each.
func TestDecodeRejectsEveryTruncationAndTrailer(t *testing.T) {
	for _, s := range samples() {
		b, err := Encode(Frame{RequestID: s.id, Msg: s.msg})
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(b); n++ {
			if _, err := Decode(b[:n]); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s cut to %d of %d bytes: error %v, want truncated", s.name, n, len(b), err)
			}
		}
		if _, err := Decode(append(b, 0)); !errors.Is(err, ErrTrailing) {
			t.Errorf("%s with a trailing byte: error %v, want trailing", s.name, err)
		}
	}
}

func TestParseHeaderOfUnknownVersionKeepsRequestID(t *testing.T) {
	b := append(be16(7), frame(TypeSend, 1234)[2:]...)
	h, err := ParseHeader(b)
	if !errors.Is(err, ErrUnsupportedVersion) || h.RequestID != 1234 || h.Version != 7 {
		t.Fatalf("ParseHeader = %+v, %v", h, err)
	}
}

// TestHugeDeclaredLengthsDoNotAllocate decodes tiny inputs that declare
// large lengths and checks that nothing near those lengths is allocated.
func TestHugeDeclaredLengthsDoNotAllocate(t *testing.T) {
	inputs := [][]byte{
		frame(TypeSend, 1, sendBody(1, fill(1, 32), be32(MaxPayload))...),
		frame(TypeSend, 1, fill(0x50, 16), fill(0x60, 32), be64(7), []byte{1}, be32(MaxRecipients*32)),
		frame(TypePublishKeyPackages, 1, be32(MaxFrame)),
		frame(TypePublishKeyPackages, 1, withLen(be32(MaxKeyPackageSize))),
		frame(TypeGroupInfo, 1, fill(0x60, 32), be64(1), be32(MaxGroupInfoSize)),
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 100; i++ {
		for _, in := range inputs {
			if _, err := Decode(in); err == nil {
				t.Fatal("decoded a frame that declares more bytes than it has")
			}
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("500 rejected tiny frames allocated %d bytes", got)
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want error
	}{
		{"nil message", Frame{RequestID: 1}, nil},
		{"request id 0", Frame{Msg: &Ping{}}, ErrInvalid},
		{"push with request id", Frame{RequestID: 3, Msg: &Deliver{Seq: 1, Kind: KindApplication, Payload: []byte{1}}}, ErrInvalid},
		{"payload over limit", Frame{RequestID: 1, Msg: &Send{Kind: KindApplication, Recipients: []DeviceID{{1}}, Payload: make([]byte, MaxPayload+1)}}, ErrTooLarge},
		{"too many recipients", Frame{RequestID: 1, Msg: &Send{Kind: KindCommit, Recipients: distinct(MaxRecipients + 1), Payload: []byte{1}}}, ErrTooLarge},
		{"duplicate recipients", Frame{RequestID: 1, Msg: &Send{Kind: KindCommit, Recipients: make([]DeviceID, 2), Payload: []byte{1}}}, ErrInvalid},
		{"bad kind", Frame{RequestID: 1, Msg: &Send{Kind: 9, Recipients: []DeviceID{{1}}, Payload: []byte{1}}}, ErrInvalid},
		{"empty key package", Frame{RequestID: 1, Msg: &PublishKeyPackages{KeyPackages: [][]byte{{}}}}, ErrInvalid},
		{"error message not UTF-8", Frame{RequestID: 1, Msg: &Error{Code: CodeInternal, Message: "\xff"}}, ErrInvalid},
		{"unknown error code", Frame{RequestID: 1, Msg: &Error{Code: 77}}, ErrInvalid},
		{"server hello default limits zero", Frame{RequestID: 1, Msg: &ServerHello{Version: 1, MinVersion: 1, MaxVersion: 1}}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.f)
			if err == nil {
				t.Fatalf("encoded %x, want an error", b)
			}
			if b != nil {
				t.Errorf("returned %d bytes with the error", len(b))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "wire: encoding") {
				t.Errorf("error %q lacks the wire: encoding prefix", err)
			}
		})
	}
}

// TestLimitsFitInAFrame checks that the largest legal message of each
// bulky type fits in MaxFrame, so a client that respects the field limits
// never builds an undeliverable frame.
func TestLimitsFitInAFrame(t *testing.T) {
	recipients := distinct(MaxRecipients)
	kps := make([][]byte, MaxKeyPackages)
	for i := range kps {
		kps[i] = make([]byte, MaxKeyPackageSize)
	}
	claimed := make([]ClaimedKeyPackage, MaxDevices)
	for i := range claimed {
		claimed[i] = ClaimedKeyPackage{DeviceID: DeviceID{byte(i)}, KeyPackage: make([]byte, MaxKeyPackageSize)}
	}
	fitInAFrame(t, []Message{
		&Send{Kind: KindApplication, Recipients: recipients, Payload: make([]byte, MaxPayload)},
		&Deliver{Seq: 1, Kind: KindApplication, Payload: make([]byte, MaxPayload)},
		&PublishKeyPackages{KeyPackages: kps, LastResort: make([]byte, MaxKeyPackageSize)},
		&KeyPackages{KeyPackages: claimed},
		&GroupInfo{GroupInfo: make([]byte, MaxGroupInfoSize)},
	})
}

// fitInAFrame checks that each message, built at its field limits, encodes
// into a frame and decodes again.
func fitInAFrame(t *testing.T, msgs []Message) {
	t.Helper()
	for _, m := range msgs {
		id := uint32(1)
		if m.Type().Class() == ClassPush {
			id = 0
		}
		b, err := Encode(Frame{RequestID: id, Msg: m})
		if err != nil {
			t.Fatalf("%v at its limits: %v", m.Type(), err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("%v at its limits does not decode: %v", m.Type(), err)
		}
	}
}

// distinct returns n different device ids.
func distinct(n int) []DeviceID {
	ids := make([]DeviceID, n)
	for i := range ids {
		ids[i][0], ids[i][1] = byte(i), byte(i>>8)
	}
	return ids
}
