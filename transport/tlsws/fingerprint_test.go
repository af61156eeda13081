package tlsws

import (
	"bytes"
	"slices"
	"testing"

	utls "github.com/refraction-networking/utls"

	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/transporttest"
)

// Published fingerprints of real Chrome with the same ClientHello as utls's
// HelloChrome_133 (15 ciphers, 16 extensions incl. X25519MLKEM768 key share,
// ALPS codepoint 17613 and GREASE ECH 65037). Source: a browserleaks.com
// capture of Chrome 143 kept in the public repository service0427/v2_cp_app
// (tls.md): "ja4": "t13d1516h2_8daaf6152771_d8a2da3f94cd", "ja3n_hash":
// "8e19337e7524d2573be54efb2b0784c9". Chrome's hello did not change between
// 133 and 143 in any field JA3N or JA4 covers. JA3 itself is not stable for
// Chrome: it shuffles extension order per connection (since Chrome 106/110),
// so real Chrome has no single JA3, and neither must we.
const (
	chromeJA4  = "t13d1516h2_8daaf6152771_d8a2da3f94cd"
	chromeJA3N = "8e19337e7524d2573be54efb2b0784c9"
	// Chrome's JA3 without the extension list, which is the stable part.
	chromeJA3Ciphers = "4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53"
	chromeJA3Groups  = "4588-29-23-24"
)

func firstFlight(t *testing.T, wsALPN bool) []byte {
	return transporttest.FirstFlight(t, func(addr string) transport.Dialer {
		d, err := NewDialer(DialConfig{Addr: addr, Host: "relay.example", SNI: "front.example", Secret: make([]byte, 32), WebSocketALPN: wsALPN})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestFirstPacketIsChrome: the first client packet is a TLS ClientHello whose
// JA4 and JA3N equal published Chrome values, whose fields equal utls's own
// spec for the claimed HelloID, and whose JA3 varies like real Chrome's.
func TestFirstPacketIsChrome(t *testing.T) {
	ja3s := map[string]bool{}
	for i := 0; i < 8; i++ {
		first := firstFlight(t, false)
		if !bytes.HasPrefix(first, []byte{0x16, 0x03, 0x01}) {
			t.Fatalf("first packet starts % x, want a TLS handshake record 16 03 01", first[:min(3, len(first))])
		}
		ch, err := transporttest.ParseClientHello(first)
		if err != nil {
			t.Fatal(err)
		}
		if got := ch.JA4(); got != chromeJA4 {
			t.Fatalf("JA4 = %s, want Chrome's %s", got, chromeJA4)
		}
		if got := ch.JA3N(); got != chromeJA3N {
			t.Fatalf("JA3N = %s (%s), want Chrome's %s", got, ch.JA3NString(), chromeJA3N)
		}
		if ch.ServerName != "front.example" {
			t.Fatalf("SNI = %q, want the front domain", ch.ServerName)
		}
		if e := transporttest.CheckExemptions(first); !e.TLSLike {
			t.Fatalf("first packet does not meet the 2023 TLS exemption: %s", e)
		}
		ja3 := ch.JA3String()
		if want := "771," + chromeJA3Ciphers + ","; !bytes.HasPrefix([]byte(ja3), []byte(want)) {
			t.Fatalf("JA3 %s does not start with Chrome's %s", ja3, want)
		}
		if want := "," + chromeJA3Groups + ",0"; !bytes.HasSuffix([]byte(ja3), []byte(want)) {
			t.Fatalf("JA3 %s does not end with Chrome's %s", ja3, want)
		}
		checkAgainstUTLSSpec(t, ch)
		ja3s[ch.JA3()] = true
		if i == 0 {
			t.Logf("JA4 %s, JA3N %s, JA3 (this connection) %s, exemptions: %s", ch.JA4(), ch.JA3N(), ch.JA3(), transporttest.CheckExemptions(first))
		}
	}
	if len(ja3s) < 2 {
		t.Fatalf("8 connections had one JA3; Chrome shuffles its extensions per connection")
	}
}

// checkAgainstUTLSSpec compares the captured hello with utls's definition of
// the HelloID we claim, read independently through UTLSIdToSpec.
func checkAgainstUTLSSpec(t *testing.T, ch *transporttest.ClientHello) {
	t.Helper()
	spec, err := utls.UTLSIdToSpec(ChromeHello)
	if err != nil {
		t.Fatal(err)
	}
	var wantCiphers []uint16
	for _, c := range spec.CipherSuites {
		if !transporttest.IsGREASE(c) {
			wantCiphers = append(wantCiphers, c)
		}
	}
	var gotCiphers []uint16
	for _, c := range ch.CipherSuites {
		if !transporttest.IsGREASE(c) {
			gotCiphers = append(gotCiphers, c)
		}
	}
	if !slices.Equal(gotCiphers, wantCiphers) {
		t.Fatalf("cipher suites %x, utls spec says %x", gotCiphers, wantCiphers)
	}
	if n := len(ch.Extensions); n != len(spec.Extensions) {
		t.Fatalf("%d extensions on the wire, utls spec has %d", n, len(spec.Extensions))
	}
}

// TestWebSocketALPNHello: the http/1.1-only hello differs from Chrome's page
// load hello only in ALPN and in dropping ALPS (HTTP/2 settings).
func TestWebSocketALPNHello(t *testing.T) {
	first := firstFlight(t, true)
	ch, err := transporttest.ParseClientHello(first)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.ALPN, []string{"http/1.1"}) || slices.Contains(ch.ExtensionTypes(), 17613) {
		t.Fatalf("ALPN %v, extensions %v: want http/1.1 only and no ALPS", ch.ALPN, ch.ExtensionTypes())
	}
	ja4 := ch.JA4()
	if ja4[:10] != "t13d1515h1" || ja4[11:23] != chromeJA4[11:23] {
		t.Fatalf("JA4 %s: want t13d1515h1 and Chrome's cipher hash", ja4)
	}
	t.Logf("WebSocket-ALPN hello: JA4 %s, JA3N %s", ja4, ch.JA3N())
}
