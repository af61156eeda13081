package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/samizdat-project/samizdat/internal/loadgen"
)

// samizdat bench fanout: one publisher, N subscribers in a child process
// (this machine caps a process at 20,000 open files, so the server and the
// subscribers cannot share one), 100-byte posts at rising rates; the
// child is this binary's hidden bench-fanout-internal subcommand. The
// benchmark itself is internal/loadgen's.

func init() {
	register("bench-fanout-internal", "internal: the subscriber side of bench fanout", runFanoutSubscribers)
}

func runBenchFanout(e env) int {
	fs := newFlags(e, "bench fanout")
	subs := fs.Int("subscribers", 15000, "subscriber connections (in one child process)")
	rates := fs.String("rates", "5,20,50,100,200", "posts per second, one phase each")
	phase := fs.Duration("phase", 10*time.Second, "length of each phase")
	target := fs.String("target", "samizdat", "samizdat, centrifugo or both")
	cf := fs.String("centrifugo", "/tmp/cfbin/centrifugo", "the Centrifugo v5 binary")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (server and publisher; not the subscribers) to this file")
	openLoop := fs.Bool("centrifugo-open-loop", false, "publish to Centrifugo on schedule without waiting for each answer (samizdat's posts carry consecutive signed seqs: one in flight)")
	subProfile := fs.String("sub-cpuprofile", "", "write a CPU profile of the subscribers' process, from the moment all are connected, to this file")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	stopProfile, err := loadgen.StartCPUProfile(*cpuProfile)
	if err != nil {
		return fail(e, "bench fanout", err)
	}
	defer stopProfile()
	exe, err := os.Executable()
	if err != nil {
		return fail(e, "bench fanout", err)
	}
	cfg := loadgen.FanoutConfig{Subscribers: *subs, Phase: *phase, SubProfile: *subProfile, CentrifugoOpenLoop: *openLoop,
		SubscriberCommand: []string{exe, "bench-fanout-internal"}, Progress: e.stderr}
	if cfg.Rates, err = loadgen.ParseRates(*rates); err != nil {
		return fail(e, "bench fanout", fmt.Errorf("--rates: %w", err))
	}
	results := map[string][]loadgen.FanoutPhase{}
	if *target == "samizdat" || *target == "both" {
		r, err := loadgen.FanoutSamizdat(cfg)
		if err != nil {
			return fail(e, "bench fanout", fmt.Errorf("samizdat: %w", err))
		}
		results["samizdat"] = r
	}
	if *target == "centrifugo" || *target == "both" {
		r, err := loadgen.FanoutCentrifugo(cfg, *cf)
		if err != nil {
			return fail(e, "bench fanout", fmt.Errorf("centrifugo: %w", err))
		}
		results["centrifugo"] = r
	}
	printFanout(e.stdout, results)
	return 0
}

func printFanout(w io.Writer, results map[string][]loadgen.FanoutPhase) {
	fmt.Fprintf(w, "latency from send: from the publisher's call; from due: from the time the rate's schedule set for the post\n")
	fmt.Fprintf(w, "%-10s %8s %8s %12s %12s %14s %10s %9s %9s %9s %9s\n", "target", "posts/s", "posts", "deliveries", "expected", "deliveries/s", "posts/push", "p50 send", "p99 send", "p50 due", "p99 due")
	for _, name := range []string{"samizdat", "centrifugo"} {
		for _, p := range results[name] {
			fmt.Fprintf(w, "%-10s %8.0f %8d %12d %12d %14.0f %10.2f %9.1f %9.1f %9.1f %9.1f\n", name, p.Rate, p.Posts, p.Deliveries, p.Expected, p.PerSecond,
				float64(p.Deliveries)/float64(max(p.Pushes, 1)), p.P50Ms, p.P99Ms, p.DueP50Ms, p.DueP99Ms)
		}
	}
	b, _ := json.Marshal(results)
	fmt.Fprintf(w, "json: %s\n", b)
}

// runFanoutSubscribers connects n subscribers, prints READY, records
// every delivery until stdin closes, then prints the per-phase results.
func runFanoutSubscribers(e env) int {
	fs := newFlags(e, "bench fanout-subscribers")
	var cfg loadgen.SubscriberConfig
	fs.StringVar(&cfg.Target, "target", "samizdat", "samizdat or centrifugo")
	fs.StringVar(&cfg.Server, "server", "", "server link (samizdat) or ws URL (centrifugo)")
	fs.StringVar(&cfg.Channel, "channel", "", "channel id (hex) or name")
	fs.IntVar(&cfg.N, "n", 1000, "subscribers")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process, from READY on, to this file")
	gcPercent := fs.Int("gc-percent", 400, "the Go GC target of this process (the load generator's, the same for both targets)")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	// The subscribers' process holds 15,000 connections and goroutines,
	// whose stacks every GC cycle scans; a collection every 100% of heap
	// growth took a third of its CPU. Both targets get the same setting.
	debug.SetGCPercent(*gcPercent)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Log = e.stderr
	start := time.Now()
	h, err := loadgen.ConnectSubscribers(ctx, cfg)
	if err != nil {
		return fail(e, "bench fanout", err)
	}
	stopProfile, err := loadgen.StartCPUProfile(*cpuProfile)
	if err != nil {
		return fail(e, "bench fanout", err)
	}
	fmt.Fprintf(e.stdout, "READY %d %s subscribers connected in %v\n", cfg.N, cfg.Target, time.Since(start).Round(time.Millisecond))
	io.Copy(io.Discard, e.stdin)
	stopProfile()
	json.NewEncoder(e.stdout).Encode(h.Results())
	return 0
}
