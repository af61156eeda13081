package cli

import "testing"

func TestByteSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "2g": 2 << 30, "64KB": 64 << 10, "100": 100, "-1": -1} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "x", "-2", "-1MiB", "1.5G", "99999999999T"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) accepted", in)
		}
	}
}
