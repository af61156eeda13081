package wire

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.hex from the current encoder")

// fill returns n bytes counting up from start, so fields are recognizable in
// a hex dump.
func fill(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func id32(start byte) (a [32]byte) { copy(a[:], fill(start, 32)); return }
func id16(start byte) (a [16]byte) { copy(a[:], fill(start, 16)); return }
func sig(start byte) (a [64]byte)  { copy(a[:], fill(start, 64)); return }

type sample struct {
	name string
	id   uint32
	msg  Message
}

// samples holds at least one message of every type; golden files pin them.
func samples() []sample {
	return append(append(append(append(append(append(append(channelSamples(), deviceListSamples()...), bookSamples()...), linkSamples()...), relayRegSamples()...), blobSamples()...), distributionSamples()...), []sample{
		{"ClientHello", 1, &ClientHello{MinVersion: 1, MaxVersion: 1}},
		{"ServerHello", 1, &ServerHello{Version: 1, MinVersion: 1, MaxVersion: 1, ServerTime: 1_790_000_000, Limits: ProtocolLimits}},
		{"Ping", 2, &Ping{}},
		{"Pong", 2, &Pong{}},
		{"OK", 3, &OK{}},
		{"Error", 4, &Error{Code: CodeRateLimited, RetryAfter: 30, Message: "slow down"}},
		{"Error-StaleEpoch", 5, &Error{Code: CodeStaleEpoch, CurrentEpoch: 42, Message: "epoch 41 is stale"}},
		{"Error-connection", 0, &Error{Code: CodeUnavailable, RetryAfter: 5, Message: "draining"}},
		{"RegisterDevice", 6, &RegisterDevice{AccountKey: id32(0xa0), DeviceCert: sig(0x10)}},
		{"RevokeDevice", 7, &RevokeDevice{AccountKey: id32(0xa0), DeviceKey: id32(0xd0), Signature: sig(0x20)}},
		{"LookupAccount", 8, &LookupAccount{AccountKey: id32(0xa0)}},
		{"Devices", 8, &Devices{AccountKey: id32(0xa0), Devices: []DeviceEntry{
			{DeviceKey: id32(0xd0), DeviceCert: sig(0x10)}, {DeviceKey: id32(0xe0), DeviceCert: sig(0x30)}}}},
		{"Devices-empty", 8, &Devices{AccountKey: id32(0xa0)}},
		{"PublishKeyPackages", 9, &PublishKeyPackages{KeyPackages: [][]byte{fill(1, 5), fill(0x40, 3)}, LastResort: fill(0x80, 4)}},
		{"PublishKeyPackages-lastresort", 9, &PublishKeyPackages{LastResort: fill(0x80, 4)}},
		{"CountKeyPackages", 10, &CountKeyPackages{}},
		{"KeyPackageCount", 10, &KeyPackageCount{OneTime: 17, LastResort: true}},
		{"ClaimKeyPackages", 11, &ClaimKeyPackages{AccountKey: id32(0xa0)}},
		{"ClaimKeyPackages-devices", 11, &ClaimKeyPackages{AccountKey: id32(0xa0), Devices: []DeviceID{id32(0xd0)}}},
		{"KeyPackages", 11, &KeyPackages{KeyPackages: []ClaimedKeyPackage{
			{DeviceID: id32(0xd0), KeyPackage: fill(1, 5)}, {DeviceID: id32(0xe0), LastResort: true, KeyPackage: fill(0x80, 4)}}}},
		{"Send", 12, &Send{MsgID: id16(0x50), Group: id32(0x60), Epoch: 7, Kind: KindApplication,
			Recipients: []DeviceID{id32(0xd0), id32(0xe0)}, Payload: fill(0x70, 6)}},
		{"Send-commit-alone", 13, &Send{MsgID: id16(0x51), Group: id32(0x60), Epoch: 0, Kind: KindCommit, Payload: fill(0x70, 2)}},
		{"Ack", 12, &Ack{MsgID: id16(0x50)}},
		{"Subscribe", 14, &Subscribe{}},
		{"Deliver", 0, &Deliver{Seq: 1, MsgID: id16(0x50), Group: id32(0x60), Epoch: 7, Kind: KindWelcome, Payload: fill(0x70, 6)}},
		{"AckDelivery", 15, &AckDelivery{UpToSeq: 99}},
		{"CaughtUp", 0, &CaughtUp{UpToSeq: 99}},
		{"PublishGroupInfo", 16, &PublishGroupInfo{Group: id32(0x60), Epoch: 8, GroupInfo: fill(0x90, 7)}},
		{"FetchGroupInfo", 17, &FetchGroupInfo{Group: id32(0x60)}},
		{"GroupInfo", 17, &GroupInfo{Group: id32(0x60), Epoch: 8, GroupInfo: fill(0x90, 7)}},
	}...) // channel samples: channel_test.go
}

func TestEveryTypeHasASample(t *testing.T) {
	have := map[Type]bool{}
	for _, s := range samples() {
		have[s.msg.Type()] = true
	}
	for v := 0; v < 1<<16; v++ {
		if typ := Type(v); typ.Known() && !have[typ] {
			t.Errorf("no sample (and so no golden file) for %v", typ)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b, err := Encode(Frame{RequestID: s.id, Msg: s.msg})
			if err != nil {
				t.Fatal(err)
			}
			f, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.RequestID != s.id || !reflect.DeepEqual(f.Msg, s.msg) {
				t.Fatalf("round trip changed the frame:\n got %d %#v\nwant %d %#v", f.RequestID, f.Msg, s.id, s.msg)
			}
			h, err := ParseHeader(b)
			if err != nil || h != (Header{Version, s.msg.Type(), s.id}) {
				t.Fatalf("ParseHeader = %+v, %v", h, err)
			}
		})
	}
}

// TestGolden pins every encoding: the wire format cannot change by accident.
// Regenerate with `go test ./wire -run TestGolden -update` only when the
// protocol version changes, and say so in docs/spec/wire.md.
func TestGolden(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b, err := Encode(Frame{RequestID: s.id, Msg: s.msg})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", s.name+".hex")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(hexLines(b)), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			want, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("encoding differs from %s:\n got %x\nwant %x", path, b, want)
			}
			f, err := Decode(want)
			if err != nil || !reflect.DeepEqual(f.Msg, s.msg) {
				t.Fatalf("golden file does not decode to the sample: %v", err)
			}
		})
	}
}

// hexLines renders b as hex, 32 bytes a line.
func hexLines(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(32, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

func TestErrorCodesDocumented(t *testing.T) {
	for c := ErrorCode(0); c < 64; c++ {
		if !c.Known() {
			continue
		}
		if c.String() == "" || strings.HasPrefix(c.String(), "ErrorCode(") || c.Text() == "" || c.Action() == "" {
			t.Errorf("code %d lacks a name, text or action", c)
		}
		e := &Error{Code: c}
		if !strings.Contains(e.Error(), c.String()) {
			t.Errorf("Error() = %q does not name the code", e.Error())
		}
	}
	if ErrorCode(0).Known() || ErrorCode(999).Known() {
		t.Error("codes 0 and 999 must be unknown")
	}
}

func TestTypeClasses(t *testing.T) {
	for _, s := range samples() {
		typ := s.msg.Type()
		if typ.String() != strings.SplitN(s.name, "-", 2)[0] {
			t.Errorf("%v.String() = %q", typ, typ.String())
		}
		wantPush := typ == TypeDeliver || typ == TypeChannelPush || typ == TypeCaughtUp
		if (typ.Class() == ClassPush) != wantPush {
			t.Errorf("%v has class %d", typ, typ.Class())
		}
	}
	if got := Type(0x7777).String(); got != "Type(0x7777)" {
		t.Errorf("unknown type String() = %q", got)
	}
}

func TestDecodedBytesDoNotAliasInput(t *testing.T) {
	b, err := Encode(Frame{RequestID: 1, Msg: &Send{Kind: KindApplication, Recipients: []DeviceID{{1}}, Payload: []byte("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xff
	}
	if got := string(f.Msg.(*Send).Payload); got != "hello" {
		t.Fatalf("payload changed with the input buffer: %q", got)
	}
}
