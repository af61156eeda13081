package tlsfingerprint

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
		if s, x := h.JA3String(), h.JA3(); s != tc.str || x != tc.hash {
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
	if got, want := h.JA4(), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Errorf("JA4 = %s, want %s", got, want)
	}
	if got, want := h.JA4O(), "t13d1516h2_acb858a92679_18f69afefd3d"; got != want {
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
	if h.JA4() != "t13d1516h2_8daaf6152771_e5627efa2ab1" {
		t.Errorf("hello over two records: JA4 %s", h.JA4())
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
			_, _, _ = h.JA3(), h.JA4(), h.JA4O()
		}
	}
}

// TestJA4WorkedExampleFields checks JA4 on the fields of the worked example
// of FoxIO's specification (technical_details/JA4.md, v0.18.2, "Example"):
// the same without signature algorithms hashes the extensions to
// 6d807ffa2a79, and ALPN http/1.1 gives h1.
func TestJA4WorkedExampleFields(t *testing.T) {
	h := &ClientHello{
		Version:             0x0303,
		CipherSuites:        []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions:          types(0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015),
		HasServerName:       true,
		SignatureAlgorithms: []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		ALPN:                []string{"h2", "http/1.1"},
		SupportedVersions:   []uint16{0x0a0a, 0x0304, 0x0303},
	}
	if got, want := h.JA4(), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Fatalf("JA4 = %s, want %s", got, want)
	}
	h.SignatureAlgorithms = nil
	if got, want := h.JA4(), "t13d1516h2_8daaf6152771_6d807ffa2a79"; got != want {
		t.Fatalf("JA4 without signature algorithms = %s, want %s", got, want)
	}
	h.ALPN = []string{"http/1.1"}
	if got := h.JA4()[:10]; got != "t13d1516h1" {
		t.Fatalf("JA4_a with ALPN http/1.1 = %s, want t13d1516h1", got)
	}
}

// types returns extensions of the given types with no data.
func types(ts ...uint16) []Extension {
	out := make([]Extension, len(ts))
	for i, t := range ts {
		out[i] = Extension{Type: t}
	}
	return out
}

// TestJA3PublishedChrome checks JA3 and JA3N against a browserleaks.com
// capture of real Chrome 143 (stored in the public repository
// service0427/v2_cp_app, tls.md): its ja3_text and ja3n_text, and their
// hashes 98487aa16281980e7d1120d399efb6a4 and 8e19337e7524d2573be54efb2b0784c9.
func TestJA3PublishedChrome(t *testing.T) {
	h := &ClientHello{
		Version:         771,
		CipherSuites:    []uint16{0x3a3a, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172, 156, 157, 47, 53},
		Extensions:      types(0x8a8a, 45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35, 18, 5, 13, 27, 0xdada),
		SupportedGroups: []uint16{0x4a4a, 4588, 29, 23, 24},
		PointFormats:    []uint8{0},
	}
	if got, want := h.JA3String(), "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"; got != want {
		t.Fatalf("JA3 string\n got %s\nwant %s", got, want)
	}
	if got, want := h.JA3(), "98487aa16281980e7d1120d399efb6a4"; got != want {
		t.Fatalf("JA3 = %s, want %s", got, want)
	}
	if got, want := h.JA3N(), "8e19337e7524d2573be54efb2b0784c9"; got != want {
		t.Fatalf("JA3N = %s, want %s", got, want)
	}
}
