package termsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"hello", "hello"},
		{"grüße, привет, 你好 🙂", "grüße, привет, 你好 🙂"},
		{"a\x1b[2Jb", `a\e[2Jb`},
		{"ring\a", `ring\a`},
		{"x\rbob: forged", `x\rbob: forged`},
		{"one\n[12:00] bob: bob: forged line", `one\n[12:00] bob: bob: forged line`},
		{"tab\there", `tab\there`},
		{"del\x7f", `del\x7f`},
		{"nul\x00", `nul\x00`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"abc\u202Egnp.exe", `abc\u{202e}gnp.exe`},
		{"\u2066iso\u2069", `\u{2066}iso\u{2069}`},
		{"rlm\u200F", `rlm\u{200f}`},
		{"ls\u2028ps\u2029", `ls\u{2028}ps\u{2029}`},
		{"bad\xff\xfeutf8", `bad\xff\xfeutf8`},
		{`back\slash`, `back\\slash`},
		{"zwj\u200d", `zwj\u{200d}`},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestAdversaryNoLineForged: whatever bytes a contact sends, the result is
// one line with no byte that a terminal acts on.
func TestAdversaryNoLineForged(t *testing.T) {
	for r := rune(0); r < 0x3000; r++ {
		checkSafe(t, "x"+string(r)+"y")
	}
	checkSafe(t, "\xc0\x80\xed\xa0\x80") // overlong NUL, surrogate
}

func checkSafe(t *testing.T, in string) {
	t.Helper()
	out := String(in)
	if !utf8.ValidString(out) {
		t.Fatalf("String(%q) is not valid UTF-8", in)
	}
	for _, r := range out {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f {
			t.Fatalf("String(%q) = %q keeps %U", in, out, r)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"hi", "\x1b]0;title\a", "a\u202eb", "\r\n", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkSafe(t, s) })
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"alice", "bob-2", "Zoë", "李", "team_a", "a.b"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", `a\b`, "-rf", "a\x1b", "a\nb", "evil\u202e", "zw\u200b", strings.Repeat("a", 65), "\xff", "tab\t"} {
		if ValidName(bad) == nil {
			t.Errorf("ValidName(%q) accepted", bad)
		}
	}
}
