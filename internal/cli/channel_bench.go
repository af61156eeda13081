package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite"
)

// samizdat bench fanout: one publisher, N subscribers in a child process
// (this machine caps a process at 20,000 open files, so the server and the
// subscribers cannot share one), 100-byte posts at rising rates. Each post
// carries its phase and send time; the child histograms delivery latency
// per phase. The same design drives Centrifugo (HTTP publish API, JSON
// WebSocket subscribers) when --centrifugo names its binary.

const fanoutUsage = `usage:
  samizdat bench fanout [--subscribers 15000] [--rates 5,20,50,100,200] [--phase 10s]
                        [--target samizdat|centrifugo|both] [--centrifugo /tmp/cfbin/centrifugo]`

type fanoutConfig struct {
	subscribers int
	rates       []float64
	phase       time.Duration
	subProfile  string // the subscribers' CPU profile, if any

	centrifugoOpenLoop bool // publish to Centrifugo without waiting for answers
}

// fanoutPhase is one rate step's result.
type fanoutPhase struct {
	Rate       float64 `json:"posts_per_second"`
	Posts      int     `json:"posts"`
	Deliveries int64   `json:"deliveries"`
	Expected   int64   `json:"expected"`
	PerSecond  float64 `json:"deliveries_per_second"`
	Pushes     int64   `json:"pushes"` // frames (samizdat) or WebSocket messages (Centrifugo) that carried them
	P50Ms      float64 `json:"p50_ms"` // from the post's send to its decoding by the subscriber
	P99Ms      float64 `json:"p99_ms"`
	DueP50Ms   float64 `json:"due_p50_ms"` // from the time the schedule said to send the post
	DueP99Ms   float64 `json:"due_p99_ms"`
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
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return fail(e, "bench fanout", err)
	}
	defer stopProfile()
	cfg := fanoutConfig{subscribers: *subs, phase: *phase, subProfile: *subProfile, centrifugoOpenLoop: *openLoop}
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return fail(e, "bench fanout", fmt.Errorf("bad rate %q\n%s", r, fanoutUsage))
		}
		cfg.rates = append(cfg.rates, v)
	}
	results := map[string][]fanoutPhase{}
	if *target == "samizdat" || *target == "both" {
		r, err := fanoutSamizdat(e, cfg)
		if err != nil {
			return fail(e, "bench fanout", fmt.Errorf("samizdat: %w", err))
		}
		results["samizdat"] = r
	}
	if *target == "centrifugo" || *target == "both" {
		r, err := fanoutCentrifugo(e, cfg, *cf)
		if err != nil {
			return fail(e, "bench fanout", fmt.Errorf("centrifugo: %w", err))
		}
		results["centrifugo"] = r
	}
	fmt.Fprintf(e.stdout, "latency from send: from the publisher's call; from due: from the time the rate's schedule set for the post\n")
	fmt.Fprintf(e.stdout, "%-10s %8s %8s %12s %12s %14s %10s %9s %9s %9s %9s\n", "target", "posts/s", "posts", "deliveries", "expected", "deliveries/s", "posts/push", "p50 send", "p99 send", "p50 due", "p99 due")
	for _, name := range []string{"samizdat", "centrifugo"} {
		for _, p := range results[name] {
			fmt.Fprintf(e.stdout, "%-10s %8.0f %8d %12d %12d %14.0f %10.2f %9.1f %9.1f %9.1f %9.1f\n", name, p.Rate, p.Posts, p.Deliveries, p.Expected, p.PerSecond,
				float64(p.Deliveries)/float64(max(p.Pushes, 1)), p.P50Ms, p.P99Ms, p.DueP50Ms, p.DueP99Ms)
		}
	}
	b, _ := json.Marshal(results)
	fmt.Fprintf(e.stdout, "json: %s\n", b)
	return 0
}

// subProc is the child process holding the subscribers.
type subProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startSubscribers(e env, cfg fanoutConfig, target string, args ...string) (*subProc, error) {
	args = append([]string{"--target", target, "--n", strconv.Itoa(cfg.subscribers)}, args...)
	if cfg.subProfile != "" {
		args = append(args, "--cpuprofile", cfg.subProfile+"."+target)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{"bench-fanout-internal"}, args...)...)
	cmd.Stderr = e.stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &subProc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := p.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY") {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("subscriber process did not start: %q %v", line, err)
	}
	fmt.Fprintf(e.stderr, "bench fanout: %s", line)
	return p, nil
}

// finish closes the child's stdin and reads its per-phase histograms.
func (p *subProc) finish(cfg fanoutConfig, posts []int) ([]fanoutPhase, error) {
	p.stdin.Close()
	var res []fanoutPhase
	dec := json.NewDecoder(p.out)
	if err := dec.Decode(&res); err != nil {
		p.cmd.Wait()
		return nil, err
	}
	p.cmd.Wait()
	for i := range res {
		if i < len(cfg.rates) {
			res[i].Rate = cfg.rates[i]
			res[i].Posts = posts[i]
			res[i].Expected = int64(posts[i]) * int64(cfg.subscribers)
		}
	}
	return res[:min(len(res), len(cfg.rates))], nil
}

// publishPhases calls publish(phase, body) at each rate for cfg.phase and
// returns the number of posts per phase. Bodies are exactly 100 bytes:
// "phase due-unix-nanos send-unix-nanos" padded with 'x'. The due time is
// the schedule's: a publisher that falls behind sends at once, so the
// latency from due counts the time a post waited for the publisher too
// (no coordinated omission), and the latency from send does not. With
// openLoop, each post is published on schedule without waiting for the
// answers to the ones before (at most 256 in flight), so due and send
// times agree.
func publishPhases(cfg fanoutConfig, openLoop bool, publish func(body []byte) error) ([]int, error) {
	var counts []int
	var inFlight sync.WaitGroup
	sem := make(chan struct{}, 256)
	var firstErr atomic.Pointer[error]
	for i, rate := range cfg.rates {
		interval := time.Duration(float64(time.Second) / rate)
		start := time.Now()
		n := 0
		for next := start; time.Since(start) < cfg.phase; next = next.Add(interval) {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			body := []byte(fmt.Sprintf("%d %d %d ", i, next.UnixNano(), time.Now().UnixNano()))
			for len(body) < 100 {
				body = append(body, 'x')
			}
			n++
			if !openLoop {
				if err := publish(body); err != nil {
					return counts, err
				}
				continue
			}
			sem <- struct{}{}
			inFlight.Add(1)
			go func() {
				defer func() { <-sem; inFlight.Done() }()
				if err := publish(body); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}()
		}
		inFlight.Wait()
		if err := firstErr.Load(); err != nil {
			return counts, *err
		}
		counts = append(counts, n)
		// Let the phase drain: a post delivered during the next phase
		// still counts for its own (its body names it); after the last
		// one the subscribers stop counting, so wait longer.
		if i < len(cfg.rates)-1 {
			time.Sleep(2 * time.Second)
		} else {
			time.Sleep(10 * time.Second)
		}
	}
	return counts, nil
}

func fanoutSamizdat(e env, cfg fanoutConfig) ([]fanoutPhase, error) {
	dir, err := os.MkdirTemp("", "samizdat-fanout-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db.sqlite"), nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	key, _ := securechan.GenerateServerKey(nil)
	srv, err := server.New(server.Config{Store: st, Key: key, Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		DrainTimeout: 2 * time.Second, IdleTimeout: time.Hour})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	link := client.ServerLink{Key: key.Public(), Addrs: []string{ln.Addr().String()}}

	_, owner, _ := ed25519.GenerateKey(nil)
	desc, _ := channel.NewDescriptor(owner, "bench", uint64(time.Now().Unix()))
	pub, err := client.DialChannels(ctx, nil, link, client.NewReaderKey(), nil)
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	if err := pub.CreateChannel(ctx, desc.Encode()); err != nil {
		return nil, err
	}
	id := desc.ID()
	rss0, _ := readRSSKiB(os.Getpid())
	p, err := startSubscribers(e, cfg, "samizdat", "--server", link.String(), "--channel", fmt.Sprintf("%x", id[:]))
	if err != nil {
		return nil, err
	}
	reportSubscriberMemory(e, "samizdat (server and publisher process)", os.Getpid(), rss0, cfg.subscribers)
	seq := uint64(0)
	posts, err := publishPhases(cfg, false, func(body []byte) error {
		seq++
		post := &channel.Post{Channel: id, Seq: seq, Time: uint64(time.Now().UnixMilli()), Kind: channel.KindText, Body: body}
		if err := post.Sign(owner, nil); err != nil {
			return err
		}
		return pub.Post(ctx, post.Encode())
	})
	if err != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		return nil, err
	}
	return p.finish(cfg, posts)
}

// reportSubscriberMemory prints the RSS growth of process pid since rss0
// KiB, 3 s after n subscribers connected, per subscriber.
func reportSubscriberMemory(e env, what string, pid int, rss0 int64, n int) {
	time.Sleep(3 * time.Second)
	rss1, err := readRSSKiB(pid)
	if err != nil || rss0 == 0 || n == 0 {
		fmt.Fprintf(e.stderr, "bench fanout: %s: RSS not read: %v\n", what, err)
		return
	}
	fmt.Fprintf(e.stderr, "bench fanout: %s RSS %d KiB before the subscribers, %d KiB with %d: %.2f KiB per subscriber\n",
		what, rss0, rss1, n, float64(rss1-rss0)/float64(n))
}
