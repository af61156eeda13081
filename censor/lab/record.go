package lab

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/censor"
)

// chromiumBinary is Debian's Chromium: the browser whose flows to the cover
// site train the inner-shape classifier (censor.InnerShape).
const chromiumBinary = "/usr/bin/chromium"

// RecordOptions size a recording of flows for the inner-shape classifier.
type RecordOptions struct {
	Pages  int // Chromium page loads, each fetching the cover site over several new connections
	Resets int // times every flow is cut, so the users' clients open their tunnels again
}

// RecordShapeFlows builds the lab topology with its relays, server, nginx
// cover site and users, with a censor that only records (censor.
// ShapeRecorder), and records two kinds of TLS flows through the
// interceptor: headless Chromium in a user's namespace browsing the cover
// site (Pages page loads, each fetching resources from several host names of
// the site, so over several new connections, some carrying more than one
// request), and the users' tunnel openings to the tlsws relays while they
// send messages (every flow is cut Resets times, a second apart or more,
// so their clients reconnect). It returns the flows, labelled "chromium"
// and "tunnel".
func RecordShapeFlows(ctx context.Context, o Options, ro RecordOptions) ([]censor.FlowTrace, error) {
	o.defaults()
	if o.Binary == "" {
		return nil, fmt.Errorf("lab: Options.Binary is required")
	}
	if err := Available(); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(chromiumBinary); err != nil {
		return nil, fmt.Errorf("lab: recording browser flows needs Debian's Chromium at %s (apt-get install chromium)", chromiumBinary)
	}
	cleanup, err := o.workDir("record-shape")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	l := &labRun{sc: &censor.Scenario{Name: "record-shape"}, o: o, started: time.Now(), relays: labRelays}
	defer l.close()
	if err := l.setUp(ctx); err != nil {
		return nil, err
	}
	rec := &censor.ShapeRecorder{Label: shapeLabel, Limit: 32}
	engine := censor.New(censor.Config{Exempt: []netip.Prefix{censorRange}})
	engine.Add(rec)
	l.in.SetEngine(engine)
	l.in.ResetFlows()
	for i, u := range l.users {
		if err := u.send(UserCommand{Cmd: "start", Name: userName((i + 1) % len(l.users))}); err != nil {
			return nil, err
		}
	}
	resetsDone := make(chan struct{})
	go func() {
		defer close(resetsDone)
		for range ro.Resets {
			select {
			case <-ctx.Done():
				return
			case <-time.After(1500 * time.Millisecond):
			}
			l.in.ResetFlows()
		}
	}()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for p := range ro.Pages {
		if err := l.browse(ctx, p, rng); err != nil {
			return nil, err
		}
	}
	<-resetsDone
	time.Sleep(2 * time.Second) // the last openings' first records
	for _, u := range l.users {
		u.send(UserCommand{Cmd: "stop"})
	}
	return rec.Traces(), ctx.Err()
}

// shapeLabel names the flows the recording keeps: to the cover site (only
// Chromium talks to it) and to the tlsws relays (only the users' tunnels).
func shapeLabel(k censor.FlowKey) string {
	if k.Server == netip.AddrPortFrom(coverAddr, 443) {
		return "chromium"
	}
	for _, r := range labRelays {
		if r.Transport == "tlsws" && r.endpoint() == k.Server {
			return "tunnel"
		}
	}
	return ""
}

// browse has headless Chromium in u0's namespace load a page of the cover
// site that fetches 3-8 host names of the site, 1-4 resources each (the
// index, a missing image, the page itself): each host name is a new TLS
// connection that carries its requests one after the other.
func (l *labRun) browse(ctx context.Context, page int, rng *rand.Rand) error {
	name, err := writeCoverPage(filepath.Join(l.o.Dir, "nginx", "www"), page, rng)
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd, err := l.topo.Command(bctx, userName(0), chromiumBinary, "--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--user-data-dir="+filepath.Join(l.o.Dir, fmt.Sprintf("chromium%d", page)),
		"--ignore-certificate-errors", "--host-resolver-rules=MAP *.lab.example "+coverAddr.String()+", MAP * ~NOTFOUND",
		"--virtual-time-budget=5000", "--dump-dom", "https://www.cdn.lab.example/"+name)
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: chromium on the cover site: %w: %s", err, lastLines(string(out), 5))
	}
	return nil
}

// writeCoverPage writes pageN.html of the cover site into www: a page of
// pictures from 3-8 host names of the site, 1-4 each (the index, a
// missing image, the page itself), so that a browser loading it opens a
// TLS connection per host name and carries its requests one after the
// other. It returns the page's name.
func writeCoverPage(www string, page int, rng *rand.Rand) (string, error) {
	var html strings.Builder
	html.WriteString("<!doctype html><title>Lab cover site</title><h1>Pictures</h1>\n")
	paths := []string{"/", "/missing.png", "/index.html"}
	for h := range 3 + rng.IntN(6) {
		for k := range 1 + rng.IntN(4) {
			fmt.Fprintf(&html, "<img src=\"https://h%d.cdn.lab.example%s?%d-%d\">\n", h, paths[rng.IntN(len(paths))], page, k)
		}
	}
	name := fmt.Sprintf("page%d.html", page)
	return name, os.WriteFile(filepath.Join(www, name), []byte(html.String()), 0o644)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ChromiumVersion is what the installed Chromium says it is.
func ChromiumVersion() string {
	out, err := exec.Command(chromiumBinary, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// countLabels says how many flows of each label there are.
func countLabels(flows []censor.FlowTrace) string {
	n := map[string]int{}
	for _, f := range flows {
		n[f.Label]++
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		out = append(out, fmt.Sprintf("%d %s", n[k], k))
	}
	return strings.Join(out, ", ")
}
