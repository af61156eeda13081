package loadgen

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// FanoutConfig is what one fanout run does.
type FanoutConfig struct {
	Subscribers        int       // subscriber connections, in one child process
	Rates              []float64 // posts per second, one phase each
	Phase              time.Duration
	SubProfile         string   // the subscribers' CPU profile, if any
	CentrifugoOpenLoop bool     // publish to Centrifugo without waiting for answers
	SubscriberCommand  []string // the command (and first arguments) that runs RunSubscribers in a child process
	Progress           io.Writer
}

// ParseRates parses a comma-separated list of positive rates.
func ParseRates(s string) ([]float64, error) {
	var rates []float64
	for _, r := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("loadgen: bad rate %q: give posts per second, like 5,20,50", r)
		}
		rates = append(rates, v)
	}
	return rates, nil
}

// FanoutPhase is one rate step's result.
type FanoutPhase struct {
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

// subProc is the child process holding the subscribers.
type subProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startSubscribers runs cfg.SubscriberCommand with the flags of the
// subscribers' side and waits for its READY line.
func startSubscribers(cfg FanoutConfig, target string, args ...string) (*subProc, error) {
	if len(cfg.SubscriberCommand) == 0 {
		return nil, errors.New("loadgen: no command to run the subscribers with")
	}
	args = append([]string{"--target", target, "--n", strconv.Itoa(cfg.Subscribers)}, args...)
	if cfg.SubProfile != "" {
		args = append(args, "--cpuprofile", cfg.SubProfile+"."+target)
	}
	cmd := exec.Command(cfg.SubscriberCommand[0], append(slices.Clone(cfg.SubscriberCommand[1:]), args...)...)
	cmd.Stderr = cfg.Progress
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
		return nil, fmt.Errorf("loadgen: subscriber process did not start: %q %v", line, err)
	}
	progress(cfg.Progress, "bench fanout: %s", line)
	return p, nil
}

// finish closes the child's stdin and reads its per-phase histograms.
func (p *subProc) finish(cfg FanoutConfig, posts []int) ([]FanoutPhase, error) {
	p.stdin.Close()
	var res []FanoutPhase
	dec := json.NewDecoder(p.out)
	if err := dec.Decode(&res); err != nil {
		p.cmd.Wait()
		return nil, err
	}
	p.cmd.Wait()
	for i := range res {
		if i < len(cfg.Rates) {
			res[i].Rate = cfg.Rates[i]
			res[i].Posts = posts[i]
			res[i].Expected = int64(posts[i]) * int64(cfg.Subscribers)
		}
	}
	return res[:min(len(res), len(cfg.Rates))], nil
}

// publishPhases calls publish(phase, body) at each rate for cfg.Phase and
// returns the number of posts per phase. Bodies are exactly 100 bytes:
// "phase due-unix-nanos send-unix-nanos" padded with 'x'. The due time is
// the schedule's: a publisher that falls behind sends at once, so the
// latency from due counts the time a post waited for the publisher too
// (no coordinated omission), and the latency from send does not. With
// openLoop, each post is published on schedule without waiting for the
// answers to the ones before (at most 256 in flight), so due and send
// times agree.
func publishPhases(cfg FanoutConfig, openLoop bool, publish func(body []byte) error) ([]int, error) {
	var counts []int
	var inFlight sync.WaitGroup
	sem := make(chan struct{}, 256)
	var firstErr atomic.Pointer[error]
	for i, rate := range cfg.Rates {
		interval := time.Duration(float64(time.Second) / rate)
		start := time.Now()
		n := 0
		for next := start; time.Since(start) < cfg.Phase; next = next.Add(interval) {
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
		if i < len(cfg.Rates)-1 {
			time.Sleep(2 * time.Second)
		} else {
			time.Sleep(10 * time.Second)
		}
	}
	return counts, nil
}

// FanoutSamizdat runs a server (SQLite in a temporary directory) in this
// process, one channel, cfg.Subscribers subscribers in a child process,
// and one publisher posting at each rate; it returns each phase's result.
func FanoutSamizdat(cfg FanoutConfig) ([]FanoutPhase, error) {
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
	srv, err := server.New(server.Config{Store: st, Key: key, Logger: slog.New(slog.NewTextHandler(orDiscard(cfg.Progress), &slog.HandlerOptions{Level: slog.LevelError})),
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
	rss0, _ := ReadRSSKiB(os.Getpid())
	p, err := startSubscribers(cfg, "samizdat", "--server", link.String(), "--channel", fmt.Sprintf("%x", id[:]))
	if err != nil {
		return nil, err
	}
	reportSubscriberMemory(cfg.Progress, "samizdat (server and publisher process)", os.Getpid(), rss0, cfg.Subscribers)
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
func reportSubscriberMemory(w io.Writer, what string, pid int, rss0 int64, n int) {
	time.Sleep(3 * time.Second)
	rss1, err := ReadRSSKiB(pid)
	if err != nil || rss0 == 0 || n == 0 {
		progress(w, "bench fanout: %s: RSS not read: %v\n", what, err)
		return
	}
	progress(w, "bench fanout: %s RSS %d KiB before the subscribers, %d KiB with %d: %.2f KiB per subscriber\n",
		what, rss0, rss1, n, float64(rss1-rss0)/float64(n))
}

// progress writes to w unless it is nil.
func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// orDiscard is w, or io.Discard if w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
