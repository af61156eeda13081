package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// SendConfig is what one Send run does.
type SendConfig struct {
	Link       client.ServerLink
	Senders    int           // concurrent senders, each its own device and connection
	Messages   int           // per sender; 0 with a Duration = until it ends
	Size       int           // payload bytes per message
	Duration   time.Duration // stop sending after this long (0: after Messages)
	Recipients []wire.DeviceID
	Window     int       // Sends each sender keeps in flight
	Rate       float64   // messages per second per sender; 0 = as fast as acknowledged
	AckedLog   io.Writer // if not nil, gets the hex MsgID of every acknowledged Send, one a line
	Progress   io.Writer // if not nil, gets progress and per-sender errors
}

// Check says what is wrong with c's numbers, if anything.
func (c SendConfig) Check() error {
	if c.Senders < 1 || c.Size < 1 || c.Size > wire.MaxPayload || c.Window < 1 || (c.Messages < 1 && c.Duration <= 0) {
		return fmt.Errorf("loadgen: need senders >= 1, 1 <= size <= %d, window >= 1, and messages >= 1 or a duration", wire.MaxPayload)
	}
	return nil
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

// ReadDeviceIDs reads a file of hex device ids, one a line (what
// Receivers.IDs writes).
func ReadDeviceIDs(path string) ([]wire.DeviceID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loadgen: reading device ids: %w", err)
	}
	var ids []wire.DeviceID
	for _, line := range strings.Fields(string(b)) {
		raw, err := hex.DecodeString(line)
		if err != nil || len(raw) != len(wire.DeviceID{}) {
			return nil, fmt.Errorf("loadgen: %s: %q is not a hex device id", path, line)
		}
		ids = append(ids, wire.DeviceID(raw))
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("loadgen: %s holds no device id", path)
	}
	return ids, nil
}

// RegisterRecipients registers n fresh recipient devices (one connection
// each, closed after) so that Sends to them are really stored: the server
// skips recipients that are not registered.
func RegisterRecipients(ctx context.Context, link client.ServerLink, n int) ([]wire.DeviceID, error) {
	if n < 1 {
		return nil, errors.New("loadgen: need at least 1 recipient")
	}
	ids := make([]wire.DeviceID, n)
	err := parallel(ctx, n, 32, func(i int) error {
		d := NewDevice()
		s, err := dialRegistered(ctx, link, d, nil, nil)
		if err != nil {
			return fmt.Errorf("loadgen: recipient %d: %w", i, err)
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
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				once.Do(func() { first = err })
			}
		})
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
	cfg        *SendConfig
	index      int
	dev        Device
	reconnects atomic.Int64 // sessions replaced after one was lost
	mu         sync.Mutex   // guards sess
	sess       *client.Session

	answers  chan wire.Frame  // pipelined Sends' answers (send_pipelined.go); nil otherwise
	onAnswer func(wire.Frame) // hands them over from the session's reader

	// What the sender sends and what it measured.
	group   wire.GroupHash
	payload []byte
	next    atomic.Int64 // the next message's number
	latMu   sync.Mutex
	lats    []time.Duration
}

// session returns a live registered session, reconnecting (with backoff)
// until ctx ends.
func (b *benchSender) session(ctx context.Context) (*client.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	backoff := 50 * time.Millisecond
	for b.sess == nil || !b.sess.Alive() {
		s, err := dialRegistered(ctx, b.cfg.Link, b.dev, nil, b.onAnswer)
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

// nextSend makes the sender's next message, or says there is none left.
func (b *benchSender) nextSend(ctx context.Context) (*wire.Send, bool) {
	k := b.next.Add(1) - 1
	if (b.cfg.Messages > 0 && k >= int64(b.cfg.Messages)) || ctx.Err() != nil {
		return nil, false
	}
	rcpt := b.cfg.Recipients[(int64(b.index)+k)%int64(len(b.cfg.Recipients))]
	m := &wire.Send{Group: b.group, Epoch: 0, Kind: wire.KindApplication, Recipients: []wire.DeviceID{rcpt}, Payload: b.payload}
	rand.Read(m.MsgID[:])
	return m, true
}

// benchCounters are shared by all senders.
type benchCounters struct {
	acked, errors, retries atomic.Int64
	start                  time.Time
	lastAck                atomic.Int64 // since start
	logMu                  sync.Mutex
}

// record counts one acknowledged Send of b.
func (c *benchCounters) record(b *benchSender, m *wire.Send, lat time.Duration) {
	c.lastAck.Store(int64(time.Since(c.start)))
	c.acked.Add(1)
	b.latMu.Lock()
	b.lats = append(b.lats, lat)
	b.latMu.Unlock()
	if b.cfg.AckedLog != nil {
		c.logMu.Lock()
		fmt.Fprintf(b.cfg.AckedLog, "%x\n", m.MsgID[:])
		c.logMu.Unlock()
	}
}

// fail counts one failed Send of b and says why on the progress writer.
func (c *benchCounters) fail(b *benchSender, err error) {
	c.errors.Add(1)
	if b.cfg.Progress != nil {
		fmt.Fprintf(b.cfg.Progress, "bench send: sender %d: %v\n", b.index, err)
	}
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
				return 0, fmt.Errorf("loadgen: server answered a Send with %v", resp.Type())
			}
			return lat, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		code, after := errorCode(err)
		switch {
		case code == 0: // connection lost or timed out: reconnect, resend
			s.End(err)
		case retryable(code):
			if !sleep(ctx, max(time.Duration(after)*time.Second, 50*time.Millisecond)) {
				return 0, ctx.Err()
			}
		default:
			return 0, err
		}
	}
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// runPaced sends one message at a time (one of the window's goroutines),
// paced by pace, until the sender has no message left.
func (b *benchSender) runPaced(ctx context.Context, pace *pacer, c *benchCounters) {
	for ctx.Err() == nil {
		m, ok := b.nextSend(ctx)
		if !ok || !pace.wait(ctx) {
			return
		}
		lat, err := b.sendOne(ctx, m, c)
		if err != nil {
			if ctx.Err() == nil {
				c.fail(b, err)
			}
			continue
		}
		c.record(b, m, lat)
	}
}

// connectSenders makes and connects every sender.
func connectSenders(ctx context.Context, cfg *SendConfig, pipelined bool) ([]*benchSender, error) {
	senders := make([]*benchSender, cfg.Senders)
	err := parallel(ctx, cfg.Senders, 64, func(i int) error {
		b := &benchSender{cfg: cfg, index: i, dev: NewDevice(), payload: make([]byte, cfg.Size)}
		rand.Read(b.payload)
		rand.Read(b.group[:])
		if pipelined {
			b.enablePipelining()
		}
		if _, err := b.session(ctx); err != nil {
			return fmt.Errorf("loadgen: sender %d: %w", i, err)
		}
		senders[i] = b
		return nil
	})
	return senders, err
}

// Send runs cfg's senders until each sent its messages or the duration
// ended, and measures them; setupStart is when the run's setup began
// (registering recipients counts as setup).
func Send(ctx context.Context, cfg SendConfig, setupStart time.Time) (SendResult, error) {
	if err := cfg.Check(); err != nil {
		return SendResult{}, err
	}
	pipelined := cfg.Window > 1 && cfg.Rate == 0
	senders, err := connectSenders(ctx, &cfg, pipelined)
	if err != nil {
		return SendResult{}, err
	}
	setup := time.Since(setupStart)
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "bench send: %d senders connected and registered in %.1fs; sending\n", cfg.Senders, setup.Seconds())
	}
	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	c := &benchCounters{start: time.Now()}
	var wg sync.WaitGroup
	for _, b := range senders {
		if pipelined {
			wg.Go(func() {
				gen := func() (*wire.Send, bool) { return b.nextSend(runCtx) }
				record := func(m *wire.Send, lat time.Duration) { c.record(b, m, lat) }
				if err := b.runPipelined(runCtx, gen, record, c); err != nil && runCtx.Err() == nil {
					c.fail(b, err)
				}
			})
			continue
		}
		pace := newPacer(cfg.Rate)
		for range cfg.Window {
			wg.Go(func() { b.runPaced(runCtx, pace, c) })
		}
	}
	wg.Wait()
	res := result(cfg, senders, c, setup)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// result ends the senders' sessions and sums up what they measured.
func result(cfg SendConfig, senders []*benchSender, c *benchCounters, setup time.Duration) SendResult {
	elapsed := time.Duration(c.lastAck.Load())
	if elapsed <= 0 {
		elapsed = time.Since(c.start)
	}
	var all []time.Duration
	var reconnects int64
	for _, b := range senders {
		if b.sess != nil {
			b.sess.End(errors.New("done"))
		}
		all = append(all, b.lats...)
		reconnects += b.reconnects.Load()
	}
	slices.Sort(all)
	res := SendResult{Senders: cfg.Senders, Window: cfg.Window, Size: cfg.Size, Recipients: len(cfg.Recipients),
		Acked: c.acked.Load(), Errors: c.errors.Load(), Retries: c.retries.Load(), Reconnects: reconnects,
		Seconds: elapsed.Seconds(), SetupSec: setup.Seconds()}
	res.SendsPerSec = float64(res.Acked) / elapsed.Seconds()
	res.P50Ms, res.P99Ms = quantileMs(all, 0.50), quantileMs(all, 0.99)
	if len(all) > 0 {
		res.MaxMs = float64(all[len(all)-1]) / 1e6
	}
	return res
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
	return sleep(ctx, time.Until(slot))
}
