package reach

import (
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"rsc.io/qr"

	"github.com/samizdat-project/samizdat/transport"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func testLinks(t testing.TB) map[string]Link {
	s := testSigner(t, "a")
	id := s.ServerID()
	return map[string]Link{
		"server-only": {Chan: id.Chan, Addrs: []string{"chat.example:7000"}},
		"server-full": {Chan: id.Chan, Book: id.Book, Addrs: []string{"chat.example:7000", "[2001:db8::1]:7000"},
			Entries: []SignedEntry{mustSign(t, s, relayEntry(1)), mustSign(t, s, relayEntry(2))}},
		"server-relays-only": {Chan: id.Chan, Book: id.Book, Entries: []SignedEntry{mustSign(t, s, relayEntry(3))}},
		"relay-signed":       {Entries: []SignedEntry{mustSign(t, s, relayEntry(4))}},
		"relay-unsigned": {Unsigned: []Entry{{ID: UnsignedID(transport.Spec{Name: "obfs4", Addr: "192.0.2.5:443"}), Kind: KindRelay, Label: "Olga",
			Spec: transport.Spec{Name: "obfs4", Addr: "192.0.2.5:443", Params: map[string]string{"cert": "AbCd+/=", "iat-mode": "0"}}}}},
	}
}

func TestLinkRoundTrip(t *testing.T) {
	for name, l := range testLinks(t) {
		if err := l.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, text := range []string{l.String(), l.HTTPS("https://samizdat.example/join"), "  " + l.String() + "\n"} {
			got, err := ParseLink(text)
			if err != nil {
				t.Fatalf("%s: ParseLink(%q): %v", name, text, err)
			}
			if !reflect.DeepEqual(got, l) {
				t.Errorf("%s: round trip of %q\n got %+v\nwant %+v", name, text, got, l)
			}
		}
		// The https form keeps the payload in the fragment: what a browser
		// sends to the web server (scheme, host, path, query) holds nothing.
		u, err := url.Parse(l.HTTPS("https://samizdat.example/join"))
		if err != nil || u.RawQuery != "" || u.Path != "/join" || !strings.HasPrefix(u.Fragment, "server?") && !strings.HasPrefix(u.Fragment, "relay?") {
			t.Errorf("%s: https form %v, %v", name, u, err)
		}
	}
}

// TestLinkCompatibleWithServerLink: a reach server link keeps the fields of
// server.Link (key first, then addr...), read the way server.ParseLink reads
// them, and reach reads a link in server.Link's form.
func TestLinkCompatibleWithServerLink(t *testing.T) {
	l := testLinks(t)["server-full"]
	text := l.String()
	if !strings.HasPrefix(text, "samizdat://server?key="+l.Chan.String()+"&addr=chat.example%3A7000&addr=") {
		t.Fatalf("not in server.Link's order: %s", text)
	}
	u, err := url.Parse(text)
	if err != nil || u.Scheme != "samizdat" || u.Host != "server" {
		t.Fatalf("as a URL: %v %v", u, err)
	}
	q, _ := url.ParseQuery(u.RawQuery)
	if !reflect.DeepEqual(q["addr"], l.Addrs) || len(q["key"]) != 1 {
		t.Fatalf("query %v", q)
	}
	// The old form, as server.Link.String writes it.
	old := "samizdat://server?key=" + l.Chan.String() + "&addr=" + url.QueryEscape("[2001:db8::1]:7000")
	got, err := ParseLink(old)
	if err != nil || got.Chan != l.Chan || !reflect.DeepEqual(got.Addrs, []string{"[2001:db8::1]:7000"}) || !got.Book.IsZero() {
		t.Fatalf("old form: %+v, %v", got, err)
	}
	// Unknown parameters are ignored, for later versions.
	if _, err := ParseLink(old + "&future=1"); err != nil {
		t.Errorf("unknown parameter: %v", err)
	}
}

func TestLinkRejects(t *testing.T) {
	good := testLinks(t)["server-full"].String()
	key := testLinks(t)["server-only"].Chan.String()
	for name, text := range map[string]string{
		"empty":          "",
		"other scheme":   "tg://proxy?server=1",
		"https no frag":  "https://samizdat.example/join",
		"other host":     "samizdat://client?key=" + key + "&addr=a:1",
		"no key":         "samizdat://server?addr=a:1",
		"two keys":       "samizdat://server?key=" + key + "&key=" + key + "&addr=a:1",
		"bad key":        "samizdat://server?key=sc1AAAA&addr=a:1",
		"no addr":        "samizdat://server?key=" + key,
		"addr no port":   "samizdat://server?key=" + key + "&addr=example.org",
		"bad book":       "samizdat://server?key=" + key + "&addr=a:1&book=sb1xx",
		"relay with key": "samizdat://relay?key=" + key + "&p=AQAAAAA",
		"relay no p":     "samizdat://relay?",
		"relay empty":    "samizdat://relay?p=AQAAAAA",
		"bad base64":     "samizdat://relay?p=AQ$$",
		"padded base64":  "samizdat://relay?p=AQAAAA==",
		"future format":  "samizdat://relay?p=AgAAAAA",
		"trailing":       "samizdat://relay?p=AQAAAAAA",
		"cut payload":    good[:len(good)-20],
		"too long":       "samizdat://relay?p=" + strings.Repeat("A", maxLinkLen),
	} {
		if _, err := ParseLink(text); err == nil {
			t.Errorf("%s: ParseLink(%q) accepted", name, text)
		}
	}
	if err := (Link{Addrs: []string{"a:1"}}).Validate(); !errors.Is(err, ErrMalformed) {
		t.Errorf("relay link with addrs validates: %v", err)
	}
}

func FuzzParseLink(f *testing.F) {
	for _, l := range testLinks(f) {
		f.Add(l.String())
		f.Add(l.HTTPS("https://x.example/"))
	}
	f.Add("samizdat://relay?p=AQAAAAA")
	f.Fuzz(func(t *testing.T, text string) {
		l, err := ParseLink(text)
		if err != nil {
			return
		}
		again, err := ParseLink(l.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", l.String(), err)
		}
		if !reflect.DeepEqual(again, l) {
			t.Fatalf("decode(encode(x)) != x for %q", text)
		}
	})
}

func FuzzEntry(f *testing.F) {
	for i := range 3 {
		enc, _ := relayEntry(i).MarshalBinary()
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := UnmarshalEntry(data)
		if err != nil {
			return
		}
		enc, err := e.MarshalBinary()
		if err != nil || string(enc) != string(data) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
	})
}

func FuzzBook(f *testing.F) {
	s := testSigner(f, "a")
	data, _ := s.SignBook(1, t0, []SignedEntry{mustSign(f, s, relayEntry(1))}, []Revocation{{"r2", 1}})
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		VerifyBook(data, s.ServerID(), t0)
		UnmarshalCache(data, s.ServerID(), t0)
		b, sig, err := parseBook(data)
		if err != nil {
			return
		}
		body, err := b.marshalBody()
		if err != nil || string(append(body, sig...)) != string(data) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
	})
}

func TestQRSizeAndRendering(t *testing.T) {
	l := testLinks(t)["server-only"]
	for _, text := range []string{"samizdat", l.String(), testLinks(t)["server-full"].String()} {
		code, err := qr.Encode(text, qr.M)
		if err != nil {
			t.Fatal(err)
		}
		// ISO/IEC 18004: version v has 17+4v modules a side.
		if (code.Size-17)%4 != 0 || code.Size < 21 || code.Size > 177 {
			t.Fatalf("%d modules a side is no QR version", code.Size)
		}
		for _, invert := range []bool{false, true} {
			out, err := RenderQR(text, invert)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			n := code.Size + 2*QRQuietZone
			if len(lines) != (n+1)/2 {
				t.Fatalf("%d lines for %d modules", len(lines), n)
			}
			// Read the modules back from the half blocks: the rendering must
			// be the code, module for module, framed by the quiet zone.
			for row, line := range lines {
				runes := []rune(line)
				if len(runes) != n {
					t.Fatalf("line %d has %d cells, want %d", row, len(runes), n)
				}
				for x, r := range runes {
					top := r == '█' || r == '▀'
					bottom := r == '█' || r == '▄'
					if !strings.ContainsRune("█▀▄ ", r) {
						t.Fatalf("unexpected rune %q", r)
					}
					for dy, inked := range []bool{top, bottom} {
						y := 2*row + dy
						if y >= n {
							if inked {
								t.Fatalf("padding row inked")
							}
							continue
						}
						dark := code.Black(x-QRQuietZone, y-QRQuietZone)
						if inked != (dark == invert) {
							t.Fatalf("module (%d,%d) rendered wrong (invert=%v)", x, y, invert)
						}
					}
				}
			}
		}
	}
}

func TestQRGolden(t *testing.T) {
	out, err := RenderQR("samizdat://server?key=sc1AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8&addr=chat.example%3A7000", false)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "qr-server-link.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if out != string(want) {
		t.Errorf("QR rendering differs from %s; if intended, run go test -update\n%s", golden, out)
	}
	if _, err := RenderQR(strings.Repeat("x", 4000), false); err == nil {
		t.Error("a text too long for any QR version was rendered")
	}
}
