package transporttest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

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
	if ch.ServerName != "example.org" || !ch.HasServerName || len(ch.ALPN) != 2 || ch.ALPN[0] != "h2" {
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
