package transporttest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// TestJA4WorkedExample checks JA4 against the worked example of FoxIO's
// specification (technical_details/JA4.md, v0.18.2, "Example"): 15 ciphers,
// 16 extensions, ALPN h2 give t13d1516h2_8daaf6152771_e5627efa2ab1, and the
// same without signature algorithms hashes the extensions to 6d807ffa2a79.
func TestJA4WorkedExample(t *testing.T) {
	ch := &ClientHello{
		Version:             0x0303,
		CipherSuites:        []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions:          []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015},
		HasSNI:              true,
		SignatureAlgorithms: []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		ALPN:                []string{"h2", "http/1.1"},
		SupportedVersions:   []uint16{0x0a0a, 0x0304, 0x0303},
	}
	if got, want := ch.JA4(), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Fatalf("JA4 = %s, want %s", got, want)
	}
	ch.SignatureAlgorithms = nil
	if got, want := ch.JA4(), "t13d1516h2_8daaf6152771_6d807ffa2a79"; got != want {
		t.Fatalf("JA4 without signature algorithms = %s, want %s", got, want)
	}
	ch.ALPN = []string{"http/1.1"}
	if got := ch.JA4()[:10]; got != "t13d1516h1" {
		t.Fatalf("JA4_a with ALPN http/1.1 = %s, want t13d1516h1", got)
	}
}

// TestJA3PublishedChrome checks JA3 and JA3N against a browserleaks.com
// capture of real Chrome 143 (stored in the public repository
// service0427/v2_cp_app, tls.md): its ja3_text and ja3n_text, and their
// hashes 98487aa16281980e7d1120d399efb6a4 and 8e19337e7524d2573be54efb2b0784c9.
func TestJA3PublishedChrome(t *testing.T) {
	ch := &ClientHello{
		Version:      771,
		CipherSuites: []uint16{0x3a3a, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172, 156, 157, 47, 53},
		Extensions:   []uint16{0x8a8a, 45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35, 18, 5, 13, 27, 0xdada},
		Groups:       []uint16{0x4a4a, 4588, 29, 23, 24},
		PointFormats: []uint8{0},
	}
	if got, want := ch.JA3String(), "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"; got != want {
		t.Fatalf("JA3 string\n got %s\nwant %s", got, want)
	}
	if got, want := ch.JA3(), "98487aa16281980e7d1120d399efb6a4"; got != want {
		t.Fatalf("JA3 = %s, want %s", got, want)
	}
	if got, want := ch.JA3N(), "8e19337e7524d2573be54efb2b0784c9"; got != want {
		t.Fatalf("JA3N = %s, want %s", got, want)
	}
}

// TestParseClientHelloFromCryptoTLS parses a real hello sent by crypto/tls
// and checks the fields it was configured with.
func TestParseClientHelloFromCryptoTLS(t *testing.T) {
	client, server := net.Pipe()
	go func() {
		c := tls.Client(client, &tls.Config{ServerName: "example.org", NextProtos: []string{"h2", "http/1.1"}})
		c.Handshake()
	}()
	defer server.Close()
	buf := make([]byte, 64<<10)
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := server.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	ch, err := ParseClientHello(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if ch.ServerName != "example.org" || !ch.HasSNI || len(ch.ALPN) != 2 || ch.ALPN[0] != "h2" || ja4Version(ch) != "13" {
		t.Fatalf("parsed %+v", ch)
	}
	if ch.JA4()[:4] != "t13d" || ch.JA4()[8:10] != "h2" {
		t.Fatalf("JA4 %s does not describe a TLS 1.3 hello with SNI and h2", ch.JA4())
	}
	// Every truncation is an error, never a panic.
	for i := 0; i < n; i++ {
		if _, err := ParseClientHello(buf[:i]); err == nil {
			t.Fatalf("a hello truncated to %d of %d bytes parsed", i, n)
		}
	}
}

func FuzzParseClientHello(f *testing.F) {
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := ParseClientHello(b)
		if err == nil {
			ch.JA3()
			ch.JA4()
		}
	})
}

func TestParseClientHelloRandomNeverPanics(t *testing.T) {
	for i := 0; i < 2000; i++ {
		b := make([]byte, i%300)
		rand.Read(b)
		if i%2 == 0 && len(b) > 5 {
			copy(b, []byte{0x16, 0x03, 0x01})
		}
		ParseClientHello(b)
	}
}

func TestExemptions(t *testing.T) {
	random := make([]byte, 1000)
	rand.Read(random)
	random[3] = 0 // random bytes start printable with p = 0.37^6; not these
	cases := []struct {
		name string
		p    []byte
		want string
	}{
		{"random", random, "none"},
		{"zeros", make([]byte, 100), "Ex1(popcount<=3.4)"},
		{"ones", bytes.Repeat([]byte{0xff}, 100), "Ex1(popcount>=4.6)"},
		{"tls", append([]byte{0x16, 0x03, 0x01}, random[:200]...), "Ex5(TLS)"},
	}
	for _, c := range cases {
		e := CheckExemptions(c.p)
		// Random bytes may by chance hold a printable run; only "none" is asserted for them.
		if got := e.String(); got != c.want {
			t.Errorf("%s: exemptions %q (popcount %.2f), want %q", c.name, got, e.PopcountPerByte, c.want)
		}
		if e.Exempt() != (c.want != "none") {
			t.Errorf("%s: Exempt() = %v", c.name, e.Exempt())
		}
	}
	// An HTTP request line: printable from the start, a 24-byte printable run.
	e := CheckExemptions([]byte("GET /index.html HTTP/1.1\r\nHost: example.org\r\n\r\n"))
	if !e.FirstSix || !e.HalfPrintable || !e.Contiguous20 || !e.HTTPLike || e.TLSLike {
		t.Errorf("HTTP request: %s", e)
	}
	// 20 printable bytes in a row are not enough, 21 are.
	for n, want := range map[int]bool{20: false, 21: true} {
		p := append(append(make([]byte, 0, 40), random[:5]...), bytes.Repeat([]byte{'a'}, n)...)
		p[0] = 0 // make sure the run does not start earlier
		p[4] = 0
		if got := CheckExemptions(p).Contiguous20; got != want {
			t.Errorf("run of %d printable bytes: Contiguous20 = %v, want %v", n, got, want)
		}
	}
}
