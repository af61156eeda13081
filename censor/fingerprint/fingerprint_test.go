package fingerprint

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// helloSpec describes a ClientHello to build for tests.
type helloSpec struct {
	version uint16
	ciphers []uint16
	exts    []Extension
}

func u16s(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, byte(v>>8), byte(v))
	}
	return b
}

func pre16(b []byte) []byte { return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...) }
func pre8(b []byte) []byte  { return append([]byte{byte(len(b))}, b...) }

func sniExt(name string) Extension {
	return Extension{0x0000, pre16(append([]byte{0}, pre16([]byte(name))...))}
}
func groupsExt(gs ...uint16) Extension { return Extension{0x000a, pre16(u16s(gs...))} }
func pointsExt(ps ...byte) Extension   { return Extension{0x000b, pre8(ps)} }
func sigExt(ss ...uint16) Extension    { return Extension{0x000d, pre16(u16s(ss...))} }
func versionsExt(vs ...uint16) Extension {
	return Extension{0x002b, pre8(u16s(vs...))}
}
func alpnExt(ps ...string) Extension {
	var l []byte
	for _, p := range ps {
		l = append(l, pre8([]byte(p))...)
	}
	return Extension{0x0010, pre16(l)}
}

// record builds a complete TLS record carrying the hello.
func (s helloSpec) record() []byte {
	body := u16s(s.version)
	body = append(body, make([]byte, 32)...)
	body = append(body, pre8(make([]byte, 32))...)
	body = append(body, pre16(u16s(s.ciphers...))...)
	body = append(body, 1, 0)
	if s.exts != nil {
		var e []byte
		for _, x := range s.exts {
			e = append(e, u16s(x.Type)...)
			e = append(e, pre16(x.Data)...)
		}
		body = append(body, pre16(e)...)
	}
	msg := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{0x16, 0x03, 0x01, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

func mustParse(t *testing.T, rec []byte) *ClientHello {
	t.Helper()
	h, err := ParseRecords(rec)
	if err != nil {
		t.Fatalf("ParseRecords: %v", err)
	}
	return h
}

// TestJA3PublishedExample rebuilds the hello behind the example of the
// salesforce/ja3 README ("769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,
// 0-10-11,23-24-25,0 --> ada70206e40642a3e4461f35503241d5") and its
// no-extension example (de350869b8c85de67a350c8d186f11e6), with GREASE
// values added that JA3 must ignore.
func TestJA3PublishedExample(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      helloSpec
		str, hash string
	}{
		{"README example", helloSpec{769,
			[]uint16{0x1a1a, 47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4},
			[]Extension{{0x2a2a, nil}, sniExt("example.com"), groupsExt(0x3a3a, 23, 24, 25), pointsExt(0)}},
			"769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0",
			"ada70206e40642a3e4461f35503241d5"},
		{"no extensions", helloSpec{769, []uint16{4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99}, nil},
			"769,4-5-10-9-100-98-3-6-19-18-99,,,",
			"de350869b8c85de67a350c8d186f11e6"},
	} {
		h := mustParse(t, tc.spec.record())
		if s, x := JA3String(h), JA3(h); s != tc.str || x != tc.hash {
			t.Errorf("%s:\n got %s %s\nwant %s %s", tc.name, s, x, tc.str, tc.hash)
		}
	}
}

// jaExample is the hello of the worked example in FoxIO's JA4.md: 15
// ciphers and 16 extensions in the listed wire order, ALPN h2, the listed
// signature algorithms; GREASE added as Chrome sends it.
func ja4Example() helloSpec {
	ciphers := []uint16{0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
		0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}
	byType := map[uint16]Extension{
		0x0000: sniExt("example.org"),
		0x0010: alpnExt("h2", "http/1.1"),
		0x000d: sigExt(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601),
		0x002b: versionsExt(0x7a7a, 0x0304, 0x0303),
		0x000a: groupsExt(0x4a4a, 0x001d, 0x0017, 0x0018),
		0x000b: pointsExt(0),
	}
	exts := []Extension{{0x9a9a, nil}}
	for _, typ := range []uint16{0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
		0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015} {
		e, ok := byType[typ]
		if !ok {
			e = Extension{typ, []byte{0}}
		}
		exts = append(exts, e)
	}
	exts = append(exts, Extension{0xdada, []byte{0}})
	return helloSpec{0x0303, ciphers, exts}
}

// TestJA4PublishedExample checks the values published in FoxIO's JA4.md:
// JA4 = t13d1516h2_8daaf6152771_e5627efa2ab1 and
// JA4_o = t13d1516h2_acb858a92679_18f69afefd3d.
func TestJA4PublishedExample(t *testing.T) {
	h := mustParse(t, ja4Example().record())
	if got, want := JA4(h), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Errorf("JA4 = %s, want %s", got, want)
	}
	if got, want := JA4O(h), "t13d1516h2_acb858a92679_18f69afefd3d"; got != want {
		t.Errorf("JA4_o = %s, want %s", got, want)
	}
	if h.ServerName != "example.org" || len(h.ALPN) != 2 || h.ALPN[0] != "h2" {
		t.Errorf("parsed SNI %q ALPN %q", h.ServerName, h.ALPN)
	}
}

// TestReassemblyAcrossSegmentsAndRecords feeds the hello byte by byte and
// also split over two TLS records; every proper prefix is ErrIncomplete.
func TestReassemblyAcrossSegmentsAndRecords(t *testing.T) {
	rec := ja4Example().record()
	for i := 1; i < len(rec); i++ {
		if _, err := ParseRecords(rec[:i]); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("prefix %d: err %v, want ErrIncomplete", i, err)
		}
	}
	msg := rec[5:]
	split := append([]byte{0x16, 0x03, 0x01, 0, 100}, msg[:100]...)
	rest := msg[100:]
	split = append(split, 0x16, 0x03, 0x01, byte(len(rest)>>8), byte(len(rest)))
	split = append(split, rest...)
	h := mustParse(t, split)
	if JA4(h) != "t13d1516h2_8daaf6152771_e5627efa2ab1" {
		t.Errorf("hello over two records: JA4 %s", JA4(h))
	}
	for _, notTLS := range [][]byte{[]byte("GET / HTTP/1.1\r\n"), {0x17, 0x03, 0x03, 0, 5}, {0x16, 0x03, 0x01, 0, 4, 2, 0, 0, 0}} {
		if _, err := ParseRecords(notTLS); !errors.Is(err, ErrNotClientHello) {
			t.Errorf("%x: err %v, want ErrNotClientHello", notTLS, err)
		}
	}
}

func TestParseNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := ja4Example().record()
	for i := 0; i < 20000; i++ {
		b := append([]byte(nil), base...)
		for j := 0; j < 1+rng.IntN(4); j++ {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		b = b[:rng.IntN(len(b)+1)]
		if h, err := ParseRecords(b); err == nil {
			_, _, _ = JA3(h), JA4(h), JA4O(h)
		}
	}
}

func TestMTProtoFakeTLSFingerprint(t *testing.T) {
	ja3s := map[string]bool{}
	for seed := uint64(0); seed < 50; seed++ {
		rec := MTProtoFakeTLSHello(rand.New(rand.NewPCG(seed, 7)), "www.example.com")
		if len(rec) != 517 {
			t.Fatalf("seed %d: %d bytes, want the client's fixed 517", seed, len(rec))
		}
		h := mustParse(t, rec)
		if got := JA4(h); got != MTProtoJA4 {
			t.Fatalf("seed %d: JA4 %s, want %s", seed, got, MTProtoJA4)
		}
		if h.ServerName != "www.example.com" {
			t.Fatalf("SNI %q", h.ServerName)
		}
		ja3s[JA3(h)] = true
	}
	if len(ja3s) < 40 {
		t.Errorf("only %d distinct JA3 over 50 hellos; the client shuffles extensions, so JA3 should vary", len(ja3s))
	}
}
