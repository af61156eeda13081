package tlsws

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkShapeClassifier (a measurement, one iteration of it: run with
// go test ./transport/tlsws -run '^$' -bench ShapeClassifier -benchtime 1x;
// it needs chromium and takes about a minute): records tunnel openings and
// Chromium's connections to the same cover site (headless, each fetch to
// another host name, so each is a new TLS connection), and trains a
// nearest-centroid classifier on the first 20 application-data records
// (signed size for direction, log gap) of half of them; reports its
// accuracy on the other half. The goal is at most 0.6; the figure
// is in docs/spec/transports.md. It asserts only that both kinds were
// recorded and that the accuracy was computed on enough samples; the
// figure is what it is for.
func BenchmarkShapeClassifier(b *testing.B) {
	for range b.N {
		measureShapeClassifier(b)
	}
}

func measureShapeClassifier(t testing.TB) {
	const n = 100
	ln, cfg := testServer(t)
	var tunnels, browser [][]tlsRecord
	for i := 0; i < n; i++ {
		tunnels = append(tunnels, openTunnel(t, ln, cfg))
	}
	browser = chromiumConnections(t, ln.Addr().String(), n)
	if len(browser) < n/2 {
		t.Fatalf("only %d Chromium connections recorded", len(browser))
	}
	acc := classify20(tunnels, browser)
	t.Logf("nearest-centroid on the first 20 records: accuracy %.2f (%d tunnels, %d Chromium connections; goal <= 0.6)", acc, len(tunnels), len(browser))
}

// chromiumConnections runs headless Chromium on a page that fetches the
// cover site from n host names in turn, through a tap, and returns the
// records of each connection.
func chromiumConnections(t testing.TB, addr string, n int) [][]tlsRecord {
	bin := chromiumBinary(t)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	port := tl.Addr().(*net.TCPAddr).Port
	var mu sync.Mutex
	var taps []*recordTap
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			tap := &recordTap{done: make(chan struct{})}
			mu.Lock()
			taps = append(taps, tap)
			mu.Unlock()
			go func() {
				defer close(tap.done)
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				start := time.Now()
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); tap.copy(up, c, true, start); up.Close() }()
				go func() { defer wg.Done(); tap.copy(c, up, false, start); c.Close() }()
				wg.Wait()
			}()
		}
	}()
	// One image per host name: each loads over its own new TLS connection,
	// all before the load event that ends --dump-dom.
	var html strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&html, `<img src="https://h%d.cover.test:%d/?%d">`, i, port, i)
	}
	// The page comes from a local HTTPS origin too: Chromium blocks a
	// data: page's requests to local addresses (Private Network Access).
	pageCert, err := SelfSigned("page.cover.test")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pageCert}})
	if err != nil {
		t.Fatal(err)
	}
	psrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<!doctype html><title>p</title>"+html.String())
	})}
	go psrv.Serve(pl)
	defer psrv.Close()
	page := fmt.Sprintf("https://page.cover.test:%d/", pl.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--ignore-certificate-errors",
		"--host-resolver-rules=MAP *.cover.test 127.0.0.1", "--timeout=30000", "--dump-dom", page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("chromium: %v: %s", err, out[:min(len(out), 500)])
	} else {
		t.Logf("chromium output: %s", out[:min(len(out), 300)])
	}
	time.Sleep(500 * time.Millisecond)
	tl.Close()
	mu.Lock()
	defer mu.Unlock()
	var recs [][]tlsRecord
	t.Logf("%d connections reached the tap", len(taps))
	for _, tap := range taps {
		select {
		case <-tap.done:
		case <-time.After(2 * time.Second):
		}
		if r := tap.appRecords(); len(r) > 0 {
			recs = append(recs, r)
		}
	}
	return recs
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

// classify20 trains on a random half of each class and returns the
// accuracy on the rest.
func classify20(a, b [][]tlsRecord) float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	split := func(xs [][]tlsRecord) (train, test [][]float64) {
		idx := rng.Perm(len(xs))
		for k, i := range idx {
			if k < len(xs)/2 {
				train = append(train, features(xs[i]))
			} else {
				test = append(test, features(xs[i]))
			}
		}
		return
	}
	trA, teA := split(a)
	trB, teB := split(b)
	// Standardise by the training set's mean and deviation.
	all := append(append([][]float64{}, trA...), trB...)
	mean, sd := make([]float64, 40), make([]float64, 40)
	for _, v := range all {
		for j := range v {
			mean[j] += v[j] / float64(len(all))
		}
	}
	for _, v := range all {
		for j := range v {
			sd[j] += (v[j] - mean[j]) * (v[j] - mean[j]) / float64(len(all))
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j]) + 1e-9
	}
	norm := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for j := range v {
			o[j] = (v[j] - mean[j]) / sd[j]
		}
		return o
	}
	centroid := func(vs [][]float64) []float64 {
		c := make([]float64, 40)
		for _, v := range vs {
			for j, x := range norm(v) {
				c[j] += x / float64(len(vs))
			}
		}
		return c
	}
	cA, cB := centroid(trA), centroid(trB)
	dist := func(v, c []float64) float64 {
		d := 0.0
		for j, x := range norm(v) {
			d += (x - c[j]) * (x - c[j])
		}
		return d
	}
	right := 0
	for _, v := range teA {
		if dist(v, cA) < dist(v, cB) {
			right++
		}
	}
	for _, v := range teB {
		if dist(v, cB) <= dist(v, cA) {
			right++
		}
	}
	return float64(right) / float64(len(teA)+len(teB))
}
