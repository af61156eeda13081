package reach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

// Candidate is one path the dialer may try.
type Candidate struct {
	ID     string         // stable key for memory and backoff (the entry ID)
	Kind   Kind           // direct, relay, front
	Label  string         // for people; may be empty
	Spec   transport.Spec // a capability: never logged
	Signed bool           // vouched for by the server's signature
	Proxy  string         // proxy URL to go out through ("" = none); see ProxyFromURL
}

// CandidateFor turns a book entry into a candidate.
func CandidateFor(e Entry, signed bool) Candidate {
	return Candidate{ID: e.ID, Kind: e.Kind, Label: e.Label, Spec: e.Spec, Signed: signed}
}

// String describes the path for people without any secret:
// `relay "Riga" (tlsws)`, with " via proxy" when a proxy is used.
func (c Candidate) String() string {
	name := c.Label
	if name == "" {
		name = c.ID
	}
	s := fmt.Sprintf("%s %q (%s)", c.Kind, name, c.Spec.Name)
	if !c.Signed {
		s += " [unsigned]"
	}
	if c.Proxy != "" {
		s += " via proxy"
	}
	return s
}

// DialerFactory builds the transport.Dialer for a candidate. The CLI wires
// the concrete transports here (switching on Spec.Name, wrapping the TCP
// step with ProxyFromURL when Proxy is set), so reach depends on the
// transport interfaces only and never on a concrete transport.
type DialerFactory func(Candidate) (transport.Dialer, error)

// RacerConfig configures a Racer. Zero fields take the defaults.
type RacerConfig struct {
	Factory        DialerFactory        // required
	Stagger        time.Duration        // delay between starts; default 250ms
	AttemptTimeout time.Duration        // per attempt; default 20s
	Backoff        Backoff              // for failed paths
	Memory         *Memory              // shared memory; default a new one
	Clock          Clock                // default SystemClock
	RandN          func(int64) int64    // jitter source, [0,n); default math/rand/v2
	Logf           func(string, ...any) // optional; never given secrets
}

// Racer dials several candidates Happy-Eyeballs style: it starts them
// Stagger apart (at once after a failure), keeps the first that connects,
// and cancels and closes the rest. Paths that worked on the current network
// go first; paths that failed are backed off.
type Racer struct {
	cfg RacerConfig
}

// NewRacer returns a Racer.
func NewRacer(cfg RacerConfig) *Racer {
	if cfg.Stagger <= 0 {
		cfg.Stagger = 250 * time.Millisecond
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 20 * time.Second
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	if cfg.Memory == nil {
		cfg.Memory = NewMemory()
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	if cfg.RandN == nil {
		cfg.RandN = defaultRandN
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Racer{cfg: cfg}
}

// Memory returns the racer's memory (to persist it).
func (r *Racer) Memory() *Memory { return r.cfg.Memory }

// Path is a connection that won a race.
type Path struct {
	Conn      net.Conn
	Candidate Candidate
	Network   string
	Since     time.Time
}

// BackedOffError is returned by Dial when every candidate is backed off; the
// earliest may be tried again at Until.
type BackedOffError struct{ Until time.Time }

func (e *BackedOffError) Error() string {
	return "reach: every path is backed off until " + e.Until.Format(time.TimeOnly)
}

// ErrNoCandidates is returned by Dial when it is given nothing to try.
var ErrNoCandidates = errors.New("reach: no endpoint to try; add a server or relay link")

// Order returns the candidates Dial would try on network at now, in order:
// those that worked on this network (most recent first), then the rest in
// the given order; backed-off ones and duplicates left out. It also returns
// the earliest end of a backoff among those left out.
func (r *Racer) Order(network string, cands []Candidate) ([]Candidate, time.Time) {
	now := r.cfg.Clock.Now()
	var out []Candidate
	var earliest time.Time
	seen := make(map[string]bool)
	for _, c := range cands {
		if seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		if until, off := r.cfg.Memory.BackedOff(network, c.ID, now); off {
			if earliest.IsZero() || until.Before(earliest) {
				earliest = until
			}
			continue
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		return r.cfg.Memory.LastWorked(network, b.ID).Compare(r.cfg.Memory.LastWorked(network, a.ID))
	})
	return out, earliest
}

type attemptResult struct {
	idx  int
	conn net.Conn
	err  error
}

// Dial races the candidates on network and returns the first connection.
// A candidate that fails is backed off; the winner is remembered for the
// network. If the caller's handshake over the winner then fails, it calls
// Failed. Errors: ErrNoCandidates, *BackedOffError, ctx.Err(), or a join of
// the attempts' errors.
func (r *Racer) Dial(ctx context.Context, network string, cands []Candidate) (Path, error) {
	if len(cands) == 0 {
		return Path{}, ErrNoCandidates
	}
	order, earliest := r.Order(network, cands)
	if len(order) == 0 {
		return Path{}, &BackedOffError{Until: earliest}
	}
	raceCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan attemptResult, len(order))
	next, pending := 0, 0
	start := func() {
		i := next
		next++
		pending++
		c := order[i]
		r.cfg.Logf("reach: trying %s", c)
		go func() {
			conn, err := r.attempt(raceCtx, c)
			results <- attemptResult{idx: i, conn: conn, err: err}
		}()
	}
	start()
	var errs []error
	var tick <-chan time.Time
	if next < len(order) {
		tick = r.cfg.Clock.After(r.cfg.Stagger)
	}
	for {
		select {
		case <-tick:
			tick = nil
			if next < len(order) {
				start()
				if next < len(order) {
					tick = r.cfg.Clock.After(r.cfg.Stagger)
				}
			}
		case res := <-results:
			pending--
			c := order[res.idx]
			if res.err == nil {
				cancel()
				now := r.cfg.Clock.Now()
				r.cfg.Memory.Succeeded(network, c.ID, now)
				go closeLosers(results, pending)
				return Path{Conn: res.conn, Candidate: c, Network: network, Since: now}, nil
			}
			if ctx.Err() != nil {
				go closeLosers(results, pending)
				return Path{}, ctx.Err()
			}
			r.Failed(network, c, res.err)
			errs = append(errs, fmt.Errorf("%s: %w", c, res.err))
			if next < len(order) {
				// Happy Eyeballs: a failure starts the next one at once.
				start()
				tick = nil
				if next < len(order) {
					tick = r.cfg.Clock.After(r.cfg.Stagger)
				}
			} else if pending == 0 {
				return Path{}, fmt.Errorf("reach: every path failed: %w", errors.Join(errs...))
			}
		case <-ctx.Done():
			cancel()
			go closeLosers(results, pending)
			return Path{}, ctx.Err()
		}
	}
}

// closeLosers waits for the attempts still running (already cancelled) and
// closes any connection they made anyway.
func closeLosers(results <-chan attemptResult, pending int) {
	for ; pending > 0; pending-- {
		if res := <-results; res.conn != nil {
			res.conn.Close()
		}
	}
}

func (r *Racer) attempt(ctx context.Context, c Candidate) (net.Conn, error) {
	d, err := r.cfg.Factory(c)
	if err != nil {
		return nil, fmt.Errorf("building dialer: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	defer cancel()
	conn, err := d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		// Lost the race while the transport finished its handshake.
		conn.Close()
		return nil, ctx.Err()
	}
	return conn, nil
}

// Failed backs off candidate c on network: the attempt failed, or, reported
// by the caller, the path connected but the secure-channel handshake failed
// or reached the wrong server. err is only logged by kind, never its text
// (it could carry addresses the user wants kept off logs).
// Demote forgets that c worked on network without backing it off: a path
// that completed an authenticated session but then died quickly (a cut
// flow, a restarted relay) takes its place in the next race behind the
// others instead of first, and is still tried. If it is really broken, that
// attempt fails and backs it off.
func (r *Racer) Demote(network string, c Candidate) {
	r.cfg.Memory.Demote(network, c.ID)
	r.cfg.Logf("reach: %s ended early; trying it after the others", c)
}

func (r *Racer) Failed(network string, c Candidate, err error) {
	until := r.cfg.Memory.Failed(network, c.ID, r.cfg.Clock.Now(), r.cfg.Backoff, r.cfg.RandN)
	r.cfg.Logf("reach: %s failed; next try after %s", c, until.Format(time.TimeOnly))
}
