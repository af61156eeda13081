package tlsws

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The shape test (issue 12): tunnel openings and headless Chromium page
// loads of the same cover site (shape_cover_test.go), through a standalone
// relay in front of it (Chromium's connections are spliced to the site,
// tunnels get the relay), each load a new TLS connection to its own host
// name; a passive censor's classifiers on the first 20 application-data
// records of each connection (size signed by direction, log of the gap)
// are trained on half of each and tested on the other half. Issue 12's
// goal is that the best of them stays at or under 0.6 accuracy; it is NOT
// met yet (0.59-0.79 at 100+100, 0.665-0.755 at 200+200: the figures are
// in docs/spec/transports.md), so the test logs whether the goal holds and
// fails only above shapeGuard, which unshaped openings (1.0) and the
// shaping before the Chromium-trace replay (0.99) both exceed: it keeps
// the replay from regressing, it does not claim the goal. In CI it records 100 of each
// (about a minute on two busy cores); the measurement is 200 of
// each: -shape-samples 200. The figures are in docs/spec/transports.md.
//
// With -update-shape-profile the Chromium connections recorded are
// written to chrome_shape_profile.txt, the profile tunnels replay.

var updateShapeProfile = flag.Bool("update-shape-profile", false, "rewrite the opening profile (chrome_shape_profile.txt) from the installed Chromium")

var shapeSamples = flag.Int("shape-samples", 100, "page loads and tunnel openings the shape test records (the issue's figure: 200)")

func TestShapeClassifier(t *testing.T) {
	ln, cfg := shapeRelay(t)
	start := time.Now()
	browser := chromiumPageLoads(t, ln.Addr().String(), *shapeSamples)
	tookBrowser := time.Since(start)
	if *updateShapeProfile {
		writeShapeProfile(t, browser)
	}
	start = time.Now()
	tunnels := openTunnels(t, ln, cfg, *shapeSamples)
	t.Logf("%d page loads in %v, %d tunnel openings in %v", len(browser), tookBrowser.Round(time.Millisecond), len(tunnels), time.Since(start).Round(time.Millisecond))
	for i := 0; i < 3; i++ {
		t.Logf("browser %d: %s", i, shapeKey(browser[i], 20))
		t.Logf("tunnel  %d: %s", i, shapeKey(tunnels[i], 20))
	}
	if dump := os.Getenv("SHAPE_DUMP"); dump != "" {
		var b strings.Builder
		for _, set := range []struct {
			name string
			recs [][]tlsRecord
		}{{"browser", browser}, {"tunnel", tunnels}} {
			for _, rs := range set.recs {
				b.WriteString(set.name)
				for i, r := range rs {
					if i == 20 {
						break
					}
					fmt.Fprintf(&b, " %v:%d:%d", r.up, r.size, r.at/time.Microsecond)
				}
				b.WriteString("\n")
			}
		}
		os.WriteFile(dump, []byte(b.String()), 0o644)
	}
	best, bestName := 0.0, ""
	for _, c := range shapeClassifiers {
		acc := evaluate(c.train, tunnels, browser)
		t.Logf("%s on the first 20 records: accuracy %.3f (%d tunnels, %d page loads, trained on half)", c.name, acc, len(tunnels), len(browser))
		if acc > best {
			best, bestName = acc, c.name
		}
	}
	switch {
	case best > shapeGuard:
		t.Errorf("%s tells tunnel openings from Chromium's page loads with accuracy %.3f: the replay regressed (guard %.2f; issue 12's goal is 0.6)", bestName, best, shapeGuard)
	case best > shapeGoal:
		t.Logf("GOAL NOT MET: %s tells tunnel openings from Chromium's page loads with accuracy %.3f; issue 12's goal is at most %.1f", bestName, best, shapeGoal)
	default:
		t.Logf("goal met: the best classifier (%s) scores %.3f, at most %.1f", bestName, best, shapeGoal)
	}
}

// shapeGoal is issue 12's bound on the best classifier's accuracy;
// shapeGuard is the regression bound the test enforces until the goal is
// met (then the test should enforce shapeGoal).
const (
	shapeGoal  = 0.6
	shapeGuard = 0.9
)

// chromiumPageLoads loads the cover site n times in one headless Chromium,
// each time from another host name (so over a new TLS connection), through
// a tap, and returns for each load the records of the connection that
// carried most of the page (Chromium opens two and spreads the page's
// requests over them; the busier one is the page's session, the earlier
// one on a tie).
func chromiumPageLoads(t *testing.T, site string, n int) [][]tlsRecord {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	var mu sync.Mutex
	var taps []*recordTap
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			one := &oneConnListener{c: c, done: make(chan struct{})}
			tap := startRecordTap(one, site)
			mu.Lock()
			taps = append(taps, tap)
			mu.Unlock()
		}
	}()
	b := startChromium(t, "--ignore-certificate-errors", "--host-resolver-rules=MAP *.cover.test 127.0.0.1")
	port := tl.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A first load warms the browser up (its first connection waits on
	// the browser's own start); it is not kept.
	if err := b.load(ctx, fmt.Sprintf("https://hwarm.cover.test:%d/", port)); err != nil {
		t.Fatal(err)
	}
	var loads [][]*recordTap
	for i := 0; i < n; i++ {
		mu.Lock()
		before := len(taps)
		mu.Unlock()
		if err := b.load(ctx, fmt.Sprintf("https://h%04d.cover.test:%d/", i, port)); err != nil {
			t.Fatal(err)
		}
		if err := b.call(ctx, b.session, "Runtime.evaluate", map[string]any{"expression": "window.pageDone", "awaitPromise": true}, nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		loads = append(loads, append([]*recordTap{}, taps[before:]...))
		mu.Unlock()
	}
	var out [][]tlsRecord
	for i, load := range loads {
		var page []tlsRecord
		var first time.Time
		for _, tap := range load {
			recs := tap.appRecords()
			tap.mu.Lock()
			opened := tap.open
			tap.mu.Unlock()
			if len(recs) == 0 {
				continue
			}
			at := opened.Add(recs[0].at)
			if page == nil || len(recs) > len(page) || len(recs) == len(page) && at.Before(first) {
				page, first = recs, at
			}
		}
		if page == nil {
			t.Fatalf("page load %d: no connection carried a request", i)
		}
		out = append(out, page)
	}
	return out
}

// oneConnListener hands out one conn, then blocks until closed.
type oneConnListener struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}
func (l *oneConnListener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}
func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }

// openTunnels opens n tunnels, four at a time, and returns their records.
func openTunnels(t *testing.T, ln *Listener, cfg DialConfig, n int) [][]tlsRecord {
	out := make([][]tlsRecord, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range n {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			recs, err := openTunnelVia(tl, ln, cfg)
			if err != nil {
				errs <- err
			}
			out[i] = recs
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("opening a tunnel: %v", err)
	}
	return out
}

// writeShapeProfile writes the page loads' records as the opening profile.
func writeShapeProfile(t *testing.T, loads [][]tlsRecord) {
	var b strings.Builder
	b.WriteString("# Chromium's connections loading the shape test's cover site (shape_cover_test.go): the first\n")
	b.WriteString("# application-data records after the client's Finished, C (client) or S, TLS record length,\n")
	b.WriteString("# @ milliseconds after the first. Written by:\n")
	b.WriteString("#   go test ./transport/tlsws -run TestShapeClassifier -update-shape-profile\n")
	kept := 0
	for _, recs := range loads {
		if _, err := parseShapeTrace(traceLine(recs)); err != nil {
			continue // a connection that did not start with the request, or had no answer
		}
		kept++
		b.WriteString(traceLine(recs) + "\n")
	}
	if _, err := parseShapeProfile(b.String()); err != nil {
		t.Fatalf("the recorded profile does not parse: %v", err)
	}
	if err := os.WriteFile("chrome_shape_profile.txt", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote chrome_shape_profile.txt (%d of %d page loads)", kept, len(loads))
}

// traceLine writes the first 20 records as a profile line.
func traceLine(recs []tlsRecord) string {
	var b strings.Builder
	if len(recs) > 0 {
		t0 := recs[0].at
		for i, r := range recs {
			if i == 20 {
				break
			}
			dir := "S"
			if r.up {
				dir = "C"
			}
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s%d@%d", dir, r.size, (r.at-t0)/time.Millisecond)
		}
	}
	return b.String()
}

// features: for each of the first 20 records, size signed by direction
// (+ up, - down) and log(1+gap in ms) since the previous record.
func features(recs []tlsRecord) []float64 {
	f := make([]float64, 40)
	var prev time.Duration
	for i, r := range recs {
		if i == 20 {
			break
		}
		s := float64(r.size)
		if !r.up {
			s = -s
		}
		f[2*i] = s
		if i > 0 {
			f[2*i+1] = math.Log1p(float64(r.at-prev) / float64(time.Millisecond))
		}
		prev = r.at
	}
	return f
}

// A classifier is trained on labelled feature vectors (true: tunnel) and
// returns a predictor.
type classifier func(x [][]float64, y []bool) func([]float64) bool

var shapeClassifiers = []struct {
	name  string
	train classifier
}{
	{"nearest centroid", trainCentroid},
	{"5-nearest neighbours", trainKNN},
	{"decision stump", trainStump},
}

// evaluate trains on a random half of each class and returns the accuracy
// on the other half.
func evaluate(train classifier, tunnels, browser [][]tlsRecord) float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	var trX, teX [][]float64
	var trY, teY []bool
	for _, class := range []struct {
		xs  [][]tlsRecord
		tun bool
	}{{tunnels, true}, {browser, false}} {
		for k, i := range rng.Perm(len(class.xs)) {
			if k < len(class.xs)/2 {
				trX, trY = append(trX, features(class.xs[i])), append(trY, class.tun)
			} else {
				teX, teY = append(teX, features(class.xs[i])), append(teY, class.tun)
			}
		}
	}
	mean, sd := standardisation(trX)
	norm := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for j := range v {
			o[j] = (v[j] - mean[j]) / sd[j]
		}
		return o
	}
	var nX [][]float64
	for _, v := range trX {
		nX = append(nX, norm(v))
	}
	predict := train(nX, trY)
	right := 0
	for i, v := range teX {
		if predict(norm(v)) == teY[i] {
			right++
		}
	}
	return float64(right) / float64(len(teX))
}

func standardisation(x [][]float64) (mean, sd []float64) {
	d := len(x[0])
	mean, sd = make([]float64, d), make([]float64, d)
	for _, v := range x {
		for j := range v {
			mean[j] += v[j] / float64(len(x))
		}
	}
	for _, v := range x {
		for j := range v {
			sd[j] += (v[j] - mean[j]) * (v[j] - mean[j]) / float64(len(x))
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j]) + 1e-9
	}
	return mean, sd
}

func sqDist(a, b []float64) float64 {
	d := 0.0
	for j := range a {
		d += (a[j] - b[j]) * (a[j] - b[j])
	}
	return d
}

func trainCentroid(x [][]float64, y []bool) func([]float64) bool {
	cT, cB := make([]float64, len(x[0])), make([]float64, len(x[0]))
	nT, nB := 0.0, 0.0
	for i, v := range x {
		c := cB
		if y[i] {
			c, nT = cT, nT+1
		} else {
			nB++
		}
		for j := range v {
			c[j] += v[j]
		}
	}
	for j := range cT {
		cT[j] /= nT
		cB[j] /= nB
	}
	return func(v []float64) bool { return sqDist(v, cT) < sqDist(v, cB) }
}

func trainKNN(x [][]float64, y []bool) func([]float64) bool {
	return func(v []float64) bool {
		idx := make([]int, len(x))
		d := make([]float64, len(x))
		for i := range x {
			idx[i], d[i] = i, sqDist(v, x[i])
		}
		sort.Slice(idx, func(a, b int) bool { return d[idx[a]] < d[idx[b]] })
		votes := 0
		for _, i := range idx[:5] {
			if y[i] {
				votes++
			}
		}
		return votes >= 3
	}
}

// trainStump picks the feature, threshold and side that classify the
// training set best.
func trainStump(x [][]float64, y []bool) func([]float64) bool {
	bestJ, bestT, bestAbove, bestRight := 0, 0.0, true, -1
	for j := range x[0] {
		for _, cand := range x {
			th := cand[j]
			right := 0
			for i, v := range x {
				if (v[j] > th) == y[i] {
					right++
				}
			}
			for _, r := range []struct {
				above bool
				n     int
			}{{true, right}, {false, len(x) - right}} {
				if r.n > bestRight {
					bestJ, bestT, bestAbove, bestRight = j, th, r.above, r.n
				}
			}
		}
	}
	return func(v []float64) bool { return (v[bestJ] > bestT) == bestAbove }
}
