package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

// Config says where a Relay forwards and how hard it limits.
type Config struct {
	// Upstream dials the server or the next relay for every accepted
	// connection. Required.
	Upstream transport.Dialer

	// DialTimeout bounds one upstream dial; zero means 15 s.
	DialTimeout time.Duration
	// IdleTimeout closes a relayed connection after no byte moved in either
	// direction for this long; zero means 5 minutes, negative means never.
	IdleTimeout time.Duration
	// MaxConns caps the connections relayed at once; zero means 10,000.
	// Connections over the cap are closed at once.
	MaxConns int
	// PerIP limits new connections per source IP (IPv6: per /64). A zero
	// Rate means DefaultPerIP; PerSecond < 0 turns the limit off.
	PerIP Rate

	// Metrics receives the counters; nil means a fresh one (see Metrics).
	Metrics *Metrics
	// Logger receives aggregate events (listener errors, shutdown), never
	// an address. nil discards.
	Logger *slog.Logger
}

// DefaultPerIP allows a client a burst of reconnections (a phone switching
// networks, a racing dialer) and a steady trickle after that.
var DefaultPerIP = Rate{PerSecond: 2, Burst: 30}

// Relay forwards authenticated transport connections to one upstream.
type Relay struct {
	cfg     Config
	metrics *Metrics
	limiter *limiter
	slots   chan struct{} // one token per relayed connection, up to MaxConns
	log     *slog.Logger
}

// New checks cfg and returns a Relay; Serve runs it.
func New(cfg Config) (*Relay, error) {
	if cfg.Upstream == nil {
		return nil, errors.New("relay: no upstream: say where to forward (--upstream)")
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 15 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10000
	}
	if cfg.PerIP == (Rate{}) {
		cfg.PerIP = DefaultPerIP
	}
	r := &Relay{cfg: cfg, metrics: cfg.Metrics, slots: make(chan struct{}, cfg.MaxConns), log: cfg.Logger}
	if r.metrics == nil {
		r.metrics = NewMetrics()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if cfg.PerIP.PerSecond > 0 {
		r.limiter = newLimiter(cfg.PerIP, maxTrackedIPs, time.Now)
	}
	return r, nil
}

// Metrics returns the relay's counters.
func (r *Relay) Metrics() *Metrics { return r.metrics }

// Serve accepts on every listener and relays until ctx is done; then it
// closes the listeners and every relayed connection and returns once all
// its goroutines have ended. name labels a listener in the metrics
// (usually its transport name). Serve returns ctx's error, or the first
// listener error that is not a close.
func (r *Relay) Serve(ctx context.Context, lns ...NamedListener) error {
	if len(lns) == 0 {
		return errors.New("relay: nothing to listen on")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, nl := range lns {
		stop := context.AfterFunc(ctx, func() { nl.Listener.Close() })
		defer stop()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.acceptLoop(ctx, &wg, nl); err != nil {
				cancel(err)
			}
		}()
	}
	<-ctx.Done()
	for _, nl := range lns {
		nl.Listener.Close()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// NamedListener is a transport listener and the name its metrics carry.
type NamedListener struct {
	Name     string
	Listener transport.Listener
}

func (r *Relay) acceptLoop(ctx context.Context, wg *sync.WaitGroup, nl NamedListener) error {
	counters := r.metrics.forTransport(nl.Name)
	var pause time.Duration
	for {
		c, err := nl.Listener.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) && ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("relay: %s listener stopped: %w", nl.Name, err)
			}
			// Transient (the transport retries most itself): pause, go on.
			r.log.Warn("accept failed", "transport", nl.Name, "err", err)
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		pause = 0
		counters.accepted.Add(1)
		if !r.limiter.allow(c.RemoteAddr()) {
			r.metrics.RateLimited.Add(1)
			c.Close()
			continue
		}
		select {
		case r.slots <- struct{}{}:
		default:
			r.metrics.OverCap.Add(1)
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-r.slots }()
			r.relay(ctx, c)
		}()
	}
}

// relay dials the upstream for client and forwards both ways.
func (r *Relay) relay(ctx context.Context, client net.Conn) {
	defer client.Close()
	r.metrics.Active.Add(1)
	defer r.metrics.Active.Add(-1)

	dctx, cancel := context.WithTimeout(ctx, r.cfg.DialTimeout)
	up, err := r.cfg.Upstream.Dial(dctx)
	cancel()
	if err != nil {
		r.metrics.UpstreamFailed.Add(1)
		return
	}
	defer up.Close()
	r.metrics.Relayed.Add(1)
	r.pipe(ctx, client, up)
}

// pipe copies client->up and up->client until both directions end, an
// error, the idle timeout or ctx. Both conns are closed when it returns.
func (r *Relay) pipe(ctx context.Context, client, up net.Conn) {
	stop := context.AfterFunc(ctx, func() { client.Close(); up.Close() })
	defer stop()
	tr := &idleTracker{timeout: r.cfg.IdleTimeout}
	tr.touch()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.copyHalf(up, client, tr, &r.metrics.BytesUp)
	}()
	r.copyHalf(client, up, tr, &r.metrics.BytesDown)
	<-done
	if tr.timedOut.Load() {
		r.metrics.IdleClosed.Add(1)
	}
	client.Close()
	up.Close()
}

// bufPool holds the copy buffers: 32 KiB, the size of io.Copy's.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyHalf copies src to dst. On src's EOF it half-closes dst when dst can
// (and closes it when it cannot); on any other end it closes both, which
// ends the other direction too.
func (r *Relay) copyHalf(dst, src net.Conn, tr *idleTracker, bytes *atomic.Uint64) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var readDL, writeDL time.Time // deadlines last set; refreshed lazily
	for {
		if tr.timeout > 0 {
			now := time.Now()
			if readDL.Sub(now) < tr.timeout-tr.timeout/8 {
				readDL = now.Add(tr.timeout)
				src.SetReadDeadline(readDL)
			}
		}
		n, err := src.Read(buf)
		if n > 0 {
			tr.touch()
			bytes.Add(uint64(n))
			if tr.timeout > 0 {
				if now := time.Now(); writeDL.Sub(now) < tr.timeout-tr.timeout/8 {
					writeDL = now.Add(tr.timeout)
					dst.SetWriteDeadline(writeDL)
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				dst.Close()
				return
			}
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && !tr.idle() {
			readDL = time.Time{} // someone moved bytes: wait on
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			tr.timedOut.Store(true)
		}
		if err == io.EOF {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
		}
		src.Close()
		dst.Close()
		return
	}
}

// idleTracker is the last time either direction moved a byte.
type idleTracker struct {
	timeout  time.Duration
	last     atomic.Int64 // unix nanoseconds of the last byte read
	timedOut atomic.Bool  // a direction ended on the idle timeout
}

func (t *idleTracker) touch() { t.last.Store(time.Now().UnixNano()) }

func (t *idleTracker) idle() bool {
	return t.timeout > 0 && time.Since(time.Unix(0, t.last.Load())) >= t.timeout
}
