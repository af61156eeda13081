package tlsws

import (
	"bytes"
	"slices"
	"testing"

	"github.com/samizdat-project/samizdat/internal/tlsfingerprint"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

// fixtureHello is the captured Chromium hello (chrome_hello_fixture.txt)
// our hello must match: the page load's, or the WebSocket connection's.
func fixtureHello(t *testing.T, wsALPN bool) *transporttest.ClientHello {
	page, ws, err := chromeHellos()
	if err != nil {
		t.Fatal(err)
	}
	raw := page
	if wsALPN {
		raw = ws
	}
	ch, err := tlsfingerprint.ParseClientHello(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func firstFlight(t *testing.T, wsALPN bool) []byte {
	return recordHello(t, DialConfig{Host: "relay.example", SNI: "front.example", Secret: make([]byte, 32), WebSocketALPN: wsALPN})
}

// TestFirstPacketIsChrome: the first client packet is a TLS ClientHello
// whose JA4 and JA3N equal the captured Chromium's (page load and
// WebSocket connection), whose cipher, group and point-format lists are
// the capture's, whose SNI is the front domain, and whose JA3 varies like
// real Chrome's (extension order shuffled per connection).
func TestFirstPacketIsChrome(t *testing.T) {
	for _, wsALPN := range []bool{false, true} {
		want := fixtureHello(t, wsALPN)
		ja3s := map[string]bool{}
		for i := 0; i < 8; i++ {
			first := firstFlight(t, wsALPN)
			if !bytes.HasPrefix(first, []byte{0x16, 0x03, 0x01}) {
				t.Fatalf("first packet starts % x, want a TLS handshake record 16 03 01", first[:min(3, len(first))])
			}
			ch, err := transporttest.ParseClientHello(first)
			if err != nil {
				t.Fatal(err)
			}
			if ch.JA4() != want.JA4() || ch.JA3N() != want.JA3N() {
				t.Fatalf("JA4 %s JA3N %s (%s); the captured Chromium has JA4 %s JA3N %s (%s)",
					ch.JA4(), ch.JA3N(), ch.JA3NString(), want.JA4(), want.JA3N(), want.JA3NString())
			}
			if ch.ServerName != "front.example" {
				t.Fatalf("SNI = %q, want the front domain", ch.ServerName)
			}
			if e := transporttest.CheckExemptions(first); !e.TLSLike {
				t.Fatalf("first packet does not meet the 2023 TLS exemption: %s", e)
			}
			if !slices.Equal(ch.ALPN, want.ALPN) || len(ch.Extensions) != len(want.Extensions) {
				t.Fatalf("ALPN %v with %d extensions; Chromium: %v with %d", ch.ALPN, len(ch.Extensions), want.ALPN, len(want.Extensions))
			}
			ja3s[ch.JA3()] = true
			if i == 0 {
				t.Logf("ws=%v: JA4 %s, JA3N %s, JA3 (this connection) %s, exemptions: %s", wsALPN, ch.JA4(), ch.JA3N(), ch.JA3(), transporttest.CheckExemptions(first))
			}
		}
		if len(ja3s) < 2 {
			t.Fatalf("8 connections had one JA3; Chrome shuffles its extensions per connection")
		}
	}
}
