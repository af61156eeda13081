package pt

import (
	"maps"
	"strings"
	"testing"
)

func TestEncodeClientArgs(t *testing.T) {
	cases := []struct {
		in   map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"cert": "AbC+/x", "iat-mode": "0"}, "cert=AbC+/x;iat-mode=0"},
		{map[string]string{"a": `x=y;z\w`}, `a=x\=y\;z\\w`},
		{map[string]string{"k;=": "v"}, `k\;\==v`},
	}
	for _, c := range cases {
		if got := encodeClientArgs(c.in); got != c.want {
			t.Errorf("encodeClientArgs(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSocksCredentials(t *testing.T) {
	u, p, err := socksCredentials("cert=x;iat-mode=0")
	if err != nil || string(u) != "cert=x;iat-mode=0" || string(p) != "\x00" {
		t.Fatalf("short args: %q %q %v", u, p, err)
	}
	long := "cert=" + strings.Repeat("A", 400)
	u, p, err = socksCredentials(long)
	if err != nil || len(u) != 255 || string(u)+string(p) != long {
		t.Fatalf("long args split as %d+%d bytes, %v", len(u), len(p), err)
	}
	if _, _, err := socksCredentials(strings.Repeat("A", 511)); err == nil {
		t.Fatal("511 bytes of args accepted")
	}
	u, p, err = socksCredentials("")
	if err != nil || len(u) != 1 || len(p) != 1 {
		t.Fatalf("empty args: %q %q %v", u, p, err)
	}
}

func TestEncodeServerOptions(t *testing.T) {
	got := encodeServerOptions("obfs4", map[string]string{"node-id": "00ff", "iat-mode": "1", "odd": `a:b;c=d\`})
	want := `obfs4:iat-mode=1;obfs4:node-id=00ff;obfs4:odd=a\:b\;c\=d\\`
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestParseSmethodArgs(t *testing.T) {
	good := map[string]map[string]string{
		"":                             {},
		"cert=AbC+/x,iat-mode=0":       {"cert": "AbC+/x", "iat-mode": "0"},
		`k=a\,b\=c\\d`:                 {"k": `a,b=c\d`},
		"k=v=w":                        {"k": "v=w"},
		"k=1,k=2":                      {"k": "1"},
		`shared-secret=x\,y,other=z`:   {"shared-secret": "x,y", "other": "z"},
		"empty=":                       {"empty": ""},
		"a=1,b=2,c=3":                  {"a": "1", "b": "2", "c": "3"},
		`e\=sc=1`:                      {"e=sc": "1"},
		"cert=xkTc25GocY9V,iat-mode=2": {"cert": "xkTc25GocY9V", "iat-mode": "2"},
	}
	for in, want := range good {
		got, err := parseSmethodArgs(in)
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("parseSmethodArgs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"novalue", "a=1,", ",a=1", "=v", `k=v\`, "a=1,,b=2"} {
		if got, err := parseSmethodArgs(in); err == nil {
			t.Errorf("parseSmethodArgs(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParseSmethodArgs(f *testing.F) {
	for _, s := range []string{"cert=abc,iat-mode=0", `k=a\,b`, "", "=", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := parseSmethodArgs(s)
		if err != nil {
			return
		}
		for k := range args {
			if k == "" {
				t.Fatalf("empty key from %q", s)
			}
		}
	})
}

func TestParseMethodLines(t *testing.T) {
	m, err := parseMethod("CMETHOD", parseLine("CMETHOD obfs4 socks5 127.0.0.1:1234\r"))
	if err != nil || m.name != "obfs4" || m.addr != "127.0.0.1:1234" || m.errText != "" {
		t.Fatalf("CMETHOD: %+v %v", m, err)
	}
	m, err = parseMethod("CMETHOD", parseLine("CMETHOD trebuchet socks4 127.0.0.1:19999"))
	if err != nil || m.errText == "" {
		t.Fatalf("socks4 CMETHOD should be recorded as unusable: %+v %v", m, err)
	}
	m, err = parseMethod("SMETHOD", parseLine("SMETHOD obfs4 0.0.0.0:443 ARGS:cert=abc,iat-mode=1 OTHER:x"))
	if err != nil || m.addr != "0.0.0.0:443" || m.args["cert"] != "abc" || m.args["iat-mode"] != "1" {
		t.Fatalf("SMETHOD: %+v %v", m, err)
	}
	for _, l := range []string{"CMETHOD obfs4", "CMETHOD"} {
		if _, err := parseMethod("CMETHOD", parseLine(l)); err == nil {
			t.Errorf("%q parsed", l)
		}
	}
	if _, err := parseMethod("SMETHOD", parseLine("SMETHOD obfs4")); err == nil {
		t.Error("short SMETHOD parsed")
	}
}
