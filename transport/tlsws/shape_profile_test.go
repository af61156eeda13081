package tlsws

import (
	"fmt"
	"strings"
	"testing"
	"time"
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
	for _, bad := range []string{"", "# only a comment", "S200@0 S300@1", "C300@0", "C300@5 S200@1", "C3@0 S200@1", "X300@0 S200@1", "C300@-1 S200@1", "C300 S200@1", "C300@0 S99999@1", "C300@0 S200@999999", "C300@0 S200@1.", "C300@0 S200@.5", "C300@0 S200@1.2345", "C300@0 S200@1e3", "C300@0 S200@+1", "C300@0 S200@1.-5"} {
		if _, err := parseShapeProfile(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	tr, err := parseShapeProfile("C300@0 S200@1 C500@7\nS56@0 C87@3 C466@3.25 S30@4.005\n")
	if err != nil || len(tr) != 2 || len(tr[0]) != 3 || !tr[0][2].up || tr[0][2].size != 500 || tr[1][0].up {
		t.Fatalf("got %v, %v", tr, err)
	}
	if tr[0][1].at != time.Millisecond || tr[1][2].at != 3250*time.Microsecond || tr[1][3].at != 4005*time.Microsecond {
		t.Errorf("times %v %v %v: want 1ms, 3.25ms, 4.005ms", tr[0][1].at, tr[1][2].at, tr[1][3].at)
	}
	for _, d := range []time.Duration{0, time.Microsecond, 460 * time.Microsecond, 12 * time.Millisecond, 1999999 * time.Microsecond} {
		if got, ok := parseMillis(formatMillis(d)); !ok || got != d {
			t.Errorf("%v written as %q reads back as %v, %v", d, formatMillis(d), got, ok)
		}
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
			request, _, server := splitTrace(tr)
			if len(request) == 0 || len(server) == 0 || len(tr) > shapeTraceMaxLen {
				t.Fatalf("accepted a bad trace: %v", tr)
			}
		}
	})
}

// TestSplitTrace: the request is carried by the client's records up to
// the first large one; the client's times count from its first record,
// the server's from the request; each record waits for the peer's records
// the trace shows before it (the server: those after the request).
func TestSplitTrace(t *testing.T) {
	tr, err := parseShapeTrace("S56@0 C87@5 S30@6 C466@7 C26@7 S1505@9 C155@80 C1800@80 S47@82")
	if err != nil {
		t.Fatal(err)
	}
	request, client, server := splitTrace(tr)
	sizes := func(rs []shapeRecord) (out []int) {
		for _, r := range rs {
			out = append(out, r.size)
		}
		return out
	}
	if got := fmt.Sprint(sizes(request), sizes(client), sizes(server)); got != "[87 466] [26 155 1800] [56 30 1505 47]" {
		t.Fatalf("split %s", got)
	}
	if request[1].at != 2*time.Millisecond || client[1].at != 75*time.Millisecond || server[0].at != 0 || server[2].at != 2*time.Millisecond {
		t.Errorf("times: request %v, client %v, server %v", request, client, server)
	}
	var peers []int
	for _, rs := range [][]shapeRecord{request, client, server} {
		for _, r := range rs {
			peers = append(peers, r.peerSince)
		}
	}
	if got := fmt.Sprint(peers); got != "[1 2 2 3 3 0 0 1 3]" {
		t.Errorf("peerSince %s", got)
	}
	// The relay's records before the request: SETTINGS as the handshake
	// ends, then the answer to the client's preface, 1 ms after it.
	pre := serverPreface(tr)
	if got := fmt.Sprint(pre); len(pre) != 2 || pre[0].size != 56 || pre[0].peerSince != 0 || pre[1].size != 30 ||
		pre[1].peerSince != 1 || !pre[1].predPeer || pre[1].gap != time.Millisecond {
		t.Errorf("preface %s", got)
	}
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
