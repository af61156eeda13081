package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

func init() {
	register("bench", "load generators: bench send (durable sends/s, latency, idle memory), bench recv, bench server", runBench)
}

const benchUsage = `usage:
  samizdat bench send   --server LINK [--senders N] [--messages K] [--size B] [--duration D]
                        [--recipients R | --to FILE] [--window W] [--rate R] [--json FILE] [--acked-log FILE]
  samizdat bench send   --server LINK --idle N --server-pid PID [--json FILE]
  samizdat bench recv   --server LINK --recipients R --ids FILE --log FILE
  samizdat bench server --data DIR --listen ADDR [--store postgres://…]
                        (the server with rate limits off, for benchmarks)

The traffic is opaque random payloads: the server only ever sees opaque
bytes (MLS ciphertext in real use), so the load generator needs no MLS.`

func runBench(e env) int {
	if len(e.args) == 0 {
		return fail(e, "bench", usageError(benchUsage))
	}
	op := e.args[0]
	e.args = e.args[1:]
	switch op {
	case "send":
		return runBenchSend(e)
	case "recv":
		return runBenchRecv(e)
	case "server":
		return runBenchServer(e)
	case "fanout": // channel_bench.go
		return runBenchFanout(e)
	}
	return fail(e, "bench", usageError(benchUsage))
}

// usageError is a command's usage text returned as its error (it is
// prose, so it ends with a full stop).
type usageError string

func (u usageError) Error() string { return string(u) }

// sendConfig is what one `bench send` run does.
type sendConfig struct {
	link       client.ServerLink
	senders    int
	messages   int // per sender; 0 with a duration = until it ends
	size       int
	duration   time.Duration
	recipients []wire.DeviceID
	window     int
	rate       float64 // messages per second per sender; 0 = as fast as acknowledged
	ackedLog   io.Writer
}

// SendResult is the JSON form of one run.
type SendResult struct {
	Senders     int     `json:"senders"`
	Window      int     `json:"window"`
	Size        int     `json:"payload_bytes"`
	Recipients  int     `json:"recipients"`
	Acked       int64   `json:"acked"`
	Errors      int64   `json:"errors"`
	Retries     int64   `json:"retries"`
	Reconnects  int64   `json:"reconnects"` // sessions re-established after a lost one
	Seconds     float64 `json:"seconds"`
	SendsPerSec float64 `json:"sends_per_second"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	SetupSec    float64 `json:"setup_seconds"`
}

func runBenchSend(e env) int {
	fs := newFlags(e, "bench send")
	linkS := fs.String("server", "", "the server link")
	senders := fs.Int("senders", 1, "concurrent senders, each its own device and connection")
	messages := fs.Int("messages", 1000, "messages per sender (0 with --duration: until it ends)")
	size := fs.Int("size", 256, "payload bytes per message")
	duration := fs.Duration("duration", 0, "stop sending after this long (0: after --messages)")
	nRcpt := fs.Int("recipients", 100, "recipient devices to register (each message goes to one, round robin)")
	to := fs.String("to", "", "file of recipient device ids (hex, one a line; from 'bench recv --ids') instead of registering new ones")
	window := fs.Int("window", 1, "Sends each sender keeps in flight (pipelined on its connection)")
	rate := fs.Float64("rate", 0, "at most this many messages per second per sender (0: no pacing)")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file ('-': stdout)")
	ackedLog := fs.String("acked-log", "", "append the hex MsgID of every acknowledged Send to this file")
	idle := fs.Int("idle", 0, "instead of sending: open this many idle sessions and report the server's memory per session")
	serverPID := fs.Int("server-pid", 0, "with --idle: the server's process id (its RSS is read from /proc/PID/status)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load generator to this file")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return fail(e, "bench send", err)
	}
	defer stopProfile()
	link, err := client.ParseServerLink(*linkS)
	if err != nil {
		return fail(e, "bench send", fmt.Errorf("--server: %w", err))
	}
	ctx, cancel := signalContext()
	defer cancel()
	if *idle > 0 {
		return runBenchIdle(ctx, e, link, *idle, *serverPID, *jsonOut)
	}
	if *senders < 1 || *size < 1 || *size > wire.MaxPayload || *window < 1 || (*messages < 1 && *duration <= 0) {
		return fail(e, "bench send", errors.New("need --senders >= 1, 1 <= --size <= 983040, --window >= 1, and --messages >= 1 or a --duration"))
	}
	cfg := sendConfig{link: link, senders: *senders, messages: *messages, size: *size, duration: *duration, window: *window, rate: *rate}
	setupStart := time.Now()
	if *to != "" {
		if cfg.recipients, err = readDeviceIDs(*to); err != nil {
			return fail(e, "bench send", err)
		}
	} else {
		if cfg.recipients, err = registerRecipients(ctx, link, *nRcpt); err != nil {
			return fail(e, "bench send", err)
		}
	}
	if *ackedLog != "" {
		f, err := os.OpenFile(*ackedLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fail(e, "bench send", err)
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		defer w.Flush()
		cfg.ackedLog = w
	}
	res, err := benchSend(ctx, e, cfg, setupStart)
	if err != nil {
		return fail(e, "bench send", err)
	}
	fmt.Fprintf(e.stdout, "%-8s %-6s %-6s %-9s %-7s %-8s %-10s %-9s %-9s %-9s\n", "senders", "window", "size", "acked", "errors", "seconds", "sends/s", "p50_ms", "p99_ms", "max_ms")
	fmt.Fprintf(e.stdout, "%-8d %-6d %-6d %-9d %-7d %-8.2f %-10.0f %-9.2f %-9.2f %-9.2f\n", res.Senders, res.Window, res.Size, res.Acked, res.Errors, res.Seconds, res.SendsPerSec, res.P50Ms, res.P99Ms, res.MaxMs)
	if err := writeJSON(*jsonOut, e.stdout, res); err != nil {
		return fail(e, "bench send", err)
	}
	if res.Errors > 0 {
		return 1
	}
	return 0
}

func writeJSON(path string, stdout io.Writer, v any) error {
	if path == "" {
		return nil
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	b = append(b, '\n')
	if path == "-" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func readDeviceIDs(path string) ([]wire.DeviceID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ids []wire.DeviceID
	for _, line := range strings.Fields(string(b)) {
		raw, err := hex.DecodeString(line)
		if err != nil || len(raw) != len(wire.DeviceID{}) {
			return nil, fmt.Errorf("%s: %q is not a hex device id", path, line)
		}
		ids = append(ids, wire.DeviceID(raw))
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s holds no device id", path)
	}
	return ids, nil
}

// registerRecipients registers n fresh recipient devices (one connection
// each, closed after) so that Sends to them are really stored: the server
// skips recipients that are not registered.
func registerRecipients(ctx context.Context, link client.ServerLink, n int) ([]wire.DeviceID, error) {
	if n < 1 {
		return nil, errors.New("--recipients must be at least 1")
	}
	ids := make([]wire.DeviceID, n)
	err := parallel(ctx, n, 32, func(i int) error {
		d := newBenchDevice()
		s, err := benchDialRegistered(ctx, link, d, nil)
		if err != nil {
			return fmt.Errorf("recipient %d: %w", i, err)
		}
		s.End(errors.New("done"))
		ids[i] = d.id
		return nil
	})
	return ids, err
}

// parallel runs fn(0..n-1) with at most width at a time and returns the
// first error.
func parallel(ctx context.Context, n, width int, fn func(i int) error) error {
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// benchSender is one sending device; its session is replaced when the
// connection is lost (the server restarted).
type benchSender struct {
	cfg        *sendConfig
	dev        benchDevice
	reconnects atomic.Int64 // sessions replaced after one was lost
	mu         sync.Mutex   // guards sess
	sess       *client.Session

	answers  chan wire.Frame  // pipelined Sends' answers (bench_pipelined.go); nil otherwise
	onAnswer func(wire.Frame) // hands them over from the session's reader
}

// session returns a live registered session, reconnecting (with backoff)
// until ctx ends.
func (b *benchSender) session(ctx context.Context) (*client.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	backoff := 50 * time.Millisecond
	for b.sess == nil || !b.sess.Alive() {
		s, err := benchDialRegisteredHooks(ctx, b.cfg.link, b.dev, nil, b.onAnswer)
		if err == nil {
			if b.sess != nil {
				b.reconnects.Add(1)
			}
			b.sess = s
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	return b.sess, nil
}

// benchCounters are shared by all senders.
type benchCounters struct {
	acked, errors, retries atomic.Int64
	logMu                  sync.Mutex
}

// sendOne sends one message until the server acknowledges it: the same
// MsgID again after a lost connection or a retryable error, as a client
// does (docs/spec/wire.md §6.4). It returns the latency of the attempt
// that was acknowledged.
func (b *benchSender) sendOne(ctx context.Context, m *wire.Send, c *benchCounters) (time.Duration, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.retries.Add(1)
		}
		s, err := b.session(ctx)
		if err != nil {
			return 0, err
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		start := time.Now()
		resp, err := s.Call(cctx, m)
		lat := time.Since(start)
		cancel()
		if err == nil {
			ack, ok := resp.(*wire.Ack)
			if !ok || ack.MsgID != m.MsgID {
				return 0, fmt.Errorf("server answered a Send with %v", resp.Type())
			}
			return lat, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		code, after := wireErrorCode(err)
		switch {
		case code == 0: // connection lost or timed out: reconnect, resend
			s.End(err)
		case retryable(code):
			wait := max(time.Duration(after)*time.Second, 50*time.Millisecond)
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(wait):
			}
		default:
			return 0, err
		}
	}
}

func benchSend(ctx context.Context, e env, cfg sendConfig, setupStart time.Time) (SendResult, error) {
	senders := make([]*benchSender, cfg.senders)
	pipelined := cfg.window > 1 && cfg.rate == 0
	err := parallel(ctx, cfg.senders, 64, func(i int) error {
		b := &benchSender{cfg: &cfg, dev: newBenchDevice()}
		if pipelined {
			b.enablePipelining()
		}
		if _, err := b.session(ctx); err != nil {
			return fmt.Errorf("sender %d: %w", i, err)
		}
		senders[i] = b
		return nil
	})
	if err != nil {
		return SendResult{}, err
	}
	setup := time.Since(setupStart)
	fmt.Fprintf(e.stderr, "bench send: %d senders connected and registered in %.1fs; sending\n", cfg.senders, setup.Seconds())

	runCtx := ctx
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	var c benchCounters
	lats := make([][]time.Duration, cfg.senders)
	var latMu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	var lastAck atomic.Int64
	for i, b := range senders {
		payload := make([]byte, cfg.size)
		rand.Read(payload)
		var group wire.GroupHash
		rand.Read(group[:])
		var next atomic.Int64
		if pipelined {
			wg.Add(1)
			go func() {
				defer wg.Done()
				gen := func() (*wire.Send, bool) {
					k := next.Add(1) - 1
					if (cfg.messages > 0 && k >= int64(cfg.messages)) || runCtx.Err() != nil {
						return nil, false
					}
					m := &wire.Send{Group: group, Epoch: 0, Kind: wire.KindApplication,
						Recipients: []wire.DeviceID{cfg.recipients[(int64(i)+k)%int64(len(cfg.recipients))]}, Payload: payload}
					rand.Read(m.MsgID[:])
					return m, true
				}
				record := func(m *wire.Send, lat time.Duration) {
					lastAck.Store(int64(time.Since(start)))
					c.acked.Add(1)
					lats[i] = append(lats[i], lat) // only this goroutine appends to lats[i]
					if cfg.ackedLog != nil {
						c.logMu.Lock()
						fmt.Fprintf(cfg.ackedLog, "%x\n", m.MsgID[:])
						c.logMu.Unlock()
					}
				}
				logErr := func(err error) { fmt.Fprintf(e.stderr, "bench send: sender %d: %v\n", i, err) }
				if err := b.runPipelined(runCtx, gen, record, &c, logErr); err != nil && runCtx.Err() == nil {
					c.errors.Add(1)
					logErr(err)
				}
			}()
			continue
		}
		pace := newPacer(cfg.rate)
		for range cfg.window {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for runCtx.Err() == nil {
					k := next.Add(1) - 1
					if cfg.messages > 0 && k >= int64(cfg.messages) {
						return
					}
					if !pace.wait(runCtx) {
						return
					}
					m := &wire.Send{Group: group, Epoch: 0, Kind: wire.KindApplication,
						Recipients: []wire.DeviceID{cfg.recipients[(int64(i)+k)%int64(len(cfg.recipients))]}, Payload: payload}
					rand.Read(m.MsgID[:])
					lat, err := b.sendOne(runCtx, m, &c)
					if err != nil {
						if runCtx.Err() == nil {
							c.errors.Add(1)
							fmt.Fprintf(e.stderr, "bench send: sender %d: %v\n", i, err)
						}
						continue
					}
					lastAck.Store(int64(time.Since(start)))
					c.acked.Add(1)
					latMu.Lock()
					lats[i] = append(lats[i], lat)
					latMu.Unlock()
					if cfg.ackedLog != nil {
						c.logMu.Lock()
						fmt.Fprintf(cfg.ackedLog, "%x\n", m.MsgID[:])
						c.logMu.Unlock()
					}
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Duration(lastAck.Load())
	if elapsed <= 0 {
		elapsed = time.Since(start)
	}
	for _, b := range senders {
		if b.sess != nil {
			b.sess.End(errors.New("done"))
		}
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	var reconnects int64
	for _, b := range senders {
		if b != nil {
			reconnects += b.reconnects.Load()
		}
	}
	res := SendResult{Senders: cfg.senders, Window: cfg.window, Size: cfg.size, Recipients: len(cfg.recipients),
		Acked: c.acked.Load(), Errors: c.errors.Load(), Retries: c.retries.Load(), Reconnects: reconnects,
		Seconds: elapsed.Seconds(), SetupSec: setup.Seconds()}
	res.SendsPerSec = float64(res.Acked) / elapsed.Seconds()
	res.P50Ms, res.P99Ms = quantileMs(all, 0.50), quantileMs(all, 0.99)
	if len(all) > 0 {
		res.MaxMs = float64(all[len(all)-1]) / 1e6
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// quantileMs is the q-quantile (nearest rank) of sorted, in milliseconds.
func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1e6
}

// pacer spaces one sender's messages 1/rate apart (no pacing if rate is 0).
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	return &pacer{interval: time.Duration(float64(time.Second) / rate)}
}

// wait blocks until the next slot; false if ctx ended first.
func (p *pacer) wait(ctx context.Context) bool {
	if p.interval == 0 {
		return true
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	slot := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(slot)):
		return true
	}
}
