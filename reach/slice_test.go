package reach

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func sliceIDs(ses []SignedEntry) []string {
	var out []string
	for _, se := range ses {
		out = append(out, se.Entry.ID)
	}
	return out
}

// unsignedRelays makes n relays; Slice looks at IDs only, so they need no
// signature here.
func unsignedRelays(n int) []SignedEntry {
	out := make([]SignedEntry, n)
	for i := range out {
		out[i].Entry = relayEntry(i)
	}
	return out
}

func TestPeriod(t *testing.T) {
	week := 7 * 24 * time.Hour
	p := Period(t0, week)
	if Period(t0.Add(-time.Second), week) > p || Period(t0.Add(week), week) != p+1 {
		t.Fatal("periods do not advance by one per length")
	}
	if Period(t0, 0) != uint64(t0.Unix()) {
		t.Fatal("a zero length is one second")
	}
}

func TestSliceStableWithinPeriodRotatingAcross(t *testing.T) {
	secret := []byte("slice secret")
	relays := unsignedRelays(50)
	client := []byte("client public key 1")
	p := Period(t0, 7*24*time.Hour)
	a := Slice(secret, p, client, relays, 5)
	if len(a) != 5 {
		t.Fatalf("slice of %d", len(a))
	}
	// Stable: same inputs, and the relays in another order.
	shuffled := append([]SignedEntry(nil), relays...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if b := Slice(secret, p, client, shuffled, 5); !reflect.DeepEqual(sliceIDs(a), sliceIDs(b)) {
		t.Fatalf("slice depends on relay order: %v vs %v", sliceIDs(a), sliceIDs(b))
	}
	// Removing a relay outside the slice changes nothing; removing one in it
	// replaces only that one.
	var without []SignedEntry
	for _, r := range relays {
		if r.Entry.ID != a[2].Entry.ID {
			without = append(without, r)
		}
	}
	b := Slice(secret, p, client, without, 5)
	if !reflect.DeepEqual(sliceIDs(b[:4]), append(sliceIDs(a[:2]), sliceIDs(a[3:])...)) {
		t.Fatalf("removing one relay reshuffled the slice: %v -> %v", sliceIDs(a), sliceIDs(b))
	}
	// Rotating: over 20 periods the client sees different slices, and
	// another client or another secret gets another slice.
	distinct := map[string]bool{}
	for i := range uint64(20) {
		distinct[fmt.Sprint(sliceIDs(Slice(secret, p+i, client, relays, 5)))] = true
	}
	if len(distinct) < 19 {
		t.Errorf("only %d distinct slices in 20 periods", len(distinct))
	}
	if reflect.DeepEqual(sliceIDs(a), sliceIDs(Slice(secret, p, []byte("client 2"), relays, 5))) {
		t.Error("two clients share a slice")
	}
	if reflect.DeepEqual(sliceIDs(a), sliceIDs(Slice([]byte("other"), p, client, relays, 5))) {
		t.Error("the secret does not matter")
	}
	if got := Slice(secret, p, client, relays[:3], 5); len(got) != 3 {
		t.Errorf("k > R gives %d", len(got))
	}
	if Slice(secret, p, client, relays, 0) != nil {
		t.Error("k = 0 gives relays")
	}
}

// TestSliceEnumeration simulates the lab's enumeration scenario: N colluding
// fake clients, each handed its slice of k of R relays, pool what they learn
// over P periods. It checks the share they enumerate against
// 1-(1-k/R)^(N·P) (independent slices) and prints the table in doc.go.
func TestSliceEnumeration(t *testing.T) {
	const trials = 100
	rng := rand.New(rand.NewPCG(7, 7))
	t.Logf("%5s %4s %5s %2s %11s %16s", "R", "k", "N", "P", "simulated", "1-(1-k/R)^(N·P)")
	for _, tc := range []struct{ r, k, n, p int }{
		{100, 3, 10, 1}, {100, 3, 50, 1}, {100, 3, 100, 1},
		{1000, 3, 100, 1}, {1000, 3, 300, 1}, {1000, 3, 100, 4}, {1000, 1, 100, 1},
	} {
		if testing.Short() && tc.r*tc.n*tc.p >= 100_000 {
			continue
		}
		relays := unsignedRelays(tc.r)
		total := 0.0
		tr := trials
		if tc.r*tc.n*tc.p >= 100_000 {
			tr = 4 // the big cases vary little between trials
		}
		for trial := 0; trial < tr; trial++ {
			secret := []byte(fmt.Sprint("secret", trial))
			seen := make(map[string]bool)
			for c := 0; c < tc.n; c++ {
				client := fmt.Appendf(nil, "fake-%d-%d", trial, rng.Uint64())
				for p := 0; p < tc.p; p++ {
					for _, se := range Slice(secret, uint64(1000+p), client, relays, tc.k) {
						seen[se.Entry.ID] = true
					}
				}
			}
			total += float64(len(seen)) / float64(tc.r)
		}
		got := total / float64(tr)
		want := 1 - math.Pow(1-float64(tc.k)/float64(tc.r), float64(tc.n*tc.p))
		t.Logf("%5d %4d %5d %2d %10.1f%% %15.1f%%", tc.r, tc.k, tc.n, tc.p, 100*got, 100*want)
		if math.Abs(got-want) > 0.03 {
			t.Errorf("R=%d k=%d N=%d P=%d: enumerated %.3f, model says %.3f", tc.r, tc.k, tc.n, tc.p, got, want)
		}
	}
}

// TestProbationBucket: the bucket is the stated share, rounded down (at least one relay,
// never all of two or more), independent of the relays' order, disjoint
// from the rest, and moves only the relays that join or leave.
func TestProbationBucket(t *testing.T) {
	secret := []byte("slice secret for probation")
	for _, tc := range []struct{ relays, want int }{{1, 1}, {2, 1}, {5, 1}, {10, 1}, {11, 1}, {19, 1}, {20, 2}, {50, 5}, {55, 5}, {1000, 100}} {
		relays := unsignedRelays(tc.relays)
		p, rest := Probation(secret, relays, 0.1)
		if len(p) != tc.want || len(p)+len(rest) != tc.relays && tc.relays > 1 {
			t.Errorf("%d relays: probation %d, rest %d; want %d probation", tc.relays, len(p), len(rest), tc.want)
		}
		in := map[string]bool{}
		for _, se := range p {
			in[se.Entry.ID] = true
		}
		for _, se := range rest {
			if in[se.Entry.ID] {
				t.Errorf("%d relays: %s is in both buckets", tc.relays, se.Entry.ID)
			}
		}
		shuffled := append([]SignedEntry(nil), relays...)
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		p2, _ := Probation(secret, shuffled, 0.1)
		if !reflect.DeepEqual(sliceIDs(p), sliceIDs(p2)) {
			t.Errorf("%d relays: bucket depends on order: %v vs %v", tc.relays, sliceIDs(p), sliceIDs(p2))
		}
	}
	// Adding a relay moves at most that relay into the bucket and at most
	// one out (the bucket's size grows by at most one).
	relays := unsignedRelays(50)
	p50, _ := Probation(secret, relays, 0.1)
	p51, _ := Probation(secret, unsignedRelays(51), 0.1)
	kept := 0
	for _, id := range sliceIDs(p50) {
		for _, id2 := range sliceIDs(p51) {
			if id == id2 {
				kept++
			}
		}
	}
	if kept < len(p50)-1 {
		t.Errorf("one more relay reshuffled the bucket: %v -> %v", sliceIDs(p50), sliceIDs(p51))
	}
}

// TestProbationEnumeration simulates N fresh fake accounts against R
// relays with and without probation (doc.go, "Probation"): with it, what
// they learn is bounded by the bucket, ceil(share*R), whatever N.
func TestProbationEnumeration(t *testing.T) {
	secret := []byte("slice secret for probation sim")
	for _, tc := range []struct{ r, k, n int }{{50, 3, 100}, {50, 3, 1000}, {1000, 3, 1000}} {
		relays := unsignedRelays(tc.r)
		p, _ := Probation(secret, relays, 0.1)
		with, without := map[string]bool{}, map[string]bool{}
		for i := range tc.n {
			id := []byte(fmt.Sprintf("fake-%d", i))
			for _, se := range Slice(secret, 7, id, p, tc.k) {
				with[se.Entry.ID] = true
			}
			for _, se := range Slice(secret, 7, id, relays, tc.k) {
				without[se.Entry.ID] = true
			}
		}
		t.Logf("R=%d k=%d N=%d: enumerated %.1f%% without probation, %.1f%% with", tc.r, tc.k, tc.n,
			100*float64(len(without))/float64(tc.r), 100*float64(len(with))/float64(tc.r))
		if len(with) > max(1, int(math.Floor(0.1*float64(tc.r)))) {
			t.Errorf("R=%d N=%d: fresh accounts learned %d relays, more than the bucket", tc.r, tc.n, len(with))
		}
	}
}
