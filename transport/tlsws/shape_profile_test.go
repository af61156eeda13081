package tlsws

import (
	"strings"
	"testing"
)

// TestShapeProfileParses: the shipped profile is valid and has traces.
func TestShapeProfileParses(t *testing.T) {
	if shapeProfileErr != nil {
		t.Fatal(shapeProfileErr)
	}
	if len(shapeTraces) < 50 {
		t.Fatalf("the profile holds %d traces; regenerate it (shape_profile.go)", len(shapeTraces))
	}
}

func TestShapeProfileRejects(t *testing.T) {
	for _, bad := range []string{"", "# only a comment", "S200@0 C300@1", "C300@0", "C300@5 S200@1", "C3@0 S200@1", "X300@0 S200@1", "C300@-1 S200@1", "C300 S200@1", "C300@0 S99999@1", "C300@0 S200@999999"} {
		if _, err := parseShapeProfile(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	tr, err := parseShapeProfile("C300@0 S200@1 C500@7\n")
	if err != nil || len(tr) != 1 || len(tr[0]) != 3 || !tr[0][2].up || tr[0][2].size != 500 {
		t.Fatalf("got %v, %v", tr, err)
	}
}

func FuzzParseShapeProfile(f *testing.F) {
	f.Add(strings.SplitN(shapeProfileText, "\n", 8)[6])
	f.Add("C300@0 S200@1")
	f.Fuzz(func(t *testing.T, text string) {
		traces, err := parseShapeProfile(text)
		if err != nil {
			return
		}
		for _, tr := range traces {
			if !tr[0].up || len(tr) > shapeTraceMaxLen {
				t.Fatalf("accepted a bad trace: %v", tr)
			}
		}
	})
}

// TestFitData: a planned record is filled exactly: data plus pongs.
func TestFitData(t *testing.T) {
	for _, masked := range []bool{false, true} {
		for size := 9; size < 600; size++ {
			for _, avail := range []int{0, 1, 50, 124, 125, 126, 130, 1000} {
				n := fitData(size, avail, masked)
				r := size - frameLen(n, masked)
				if n > avail || r < 0 || (r > 0 && r < pongHeader(masked)) {
					t.Fatalf("size %d avail %d masked %v: carries %d, leaves %d", size, avail, masked, n, r)
				}
			}
		}
	}
}
