package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/wire"
)

// Liveness and byte budgets (docs/spec/transports.md, "Byte budgets and
// liveness"). A censor that freezes a connection after so many bytes sends
// no reset: the connection just stops delivering. While a request waits for
// its answer and nothing has arrived for the silence limit (twice the
// path's handshake time, at least 1s as RFC 6298 bounds a retransmission
// timeout, at most 4s), the path is silent: the client dials a fresh
// connection (the same path first in the race order it had, others raced
// beside it) while the old one stays open, moves the session over, and
// then retires the old one. If no byte arrives on the old connection while
// it lingers, the freeze is confirmed and its byte count becomes the
// path's budget on this network (reach.Memory.NoteFreeze); a connection
// that later nears its share of that budget hands over the same way before
// it freezes. An idle path sends a Ping only after PingInterval.

const (
	minSilence = time.Second
	maxSilence = 4 * time.Second
	// silenceBackstop: no byte for this long while requests wait ends the
	// path even if the client kept writing meanwhile.
	silenceBackstop = 10 * time.Second
	// drainWait bounds how long a connection that reached its budget
	// share may finish the answers it owes before it is closed.
	drainWait = 2 * time.Second
)

// errRotated ends a session whose connection was handed over.
var errRotated = errors.New("client: moved to a fresh connection")

type pathEvent int

const (
	pathSilent pathEvent = iota + 1 // an answer is due and nothing arrives
	pathBudget                      // the connection used its budget share
)

// conduit is one connection of a reach session.
type conduit struct {
	s        *session
	ac       *activityConn
	conn     net.Conn // closed when the conduit is retired
	cand     reach.Candidate
	noBudget bool // a handover for the budget failed: wait for the freeze
}

// silenceLimit is how long a path may stay silent with an answer due.
func (c *Client) silenceLimit(ac *activityConn) time.Duration {
	if c.opts.PingTimeout > 0 {
		return c.opts.PingTimeout
	}
	return min(max(2*ac.handshake, minSilence), maxSilence)
}

// watchPath pings cd's path after PingInterval of quiet and reports on the
// returned channel, once, when the path went silent with an answer due or
// the connection used its share of the path's byte budget (or a file
// transfer says so on fresh). It stops when cd's session ends or stop is
// closed.
func (c *Client) watchPath(cd *conduit, network string, fresh <-chan struct{}, stop <-chan struct{}) <-chan pathEvent {
	interval := c.opts.PingInterval
	if interval <= 0 {
		interval = defaultPingInterval
	}
	limit := c.silenceLimit(cd.ac)
	backstop := max(silenceBackstop, limit)
	tick := min(max(limit/4, 20*time.Millisecond), 250*time.Millisecond)
	out := make(chan pathEvent, 1)
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		pinging := false
		var dueSince time.Time
		for {
			select {
			case <-cd.s.Done():
				return
			case <-stop:
				return
			case <-fresh:
				out <- pathBudget
				return
			case <-t.C:
			}
			now := time.Now()
			rx, tx := cd.ac.rx.Load(), cd.ac.tx.Load()
			if b, ok := c.reach.racer.Memory().Budget(network, cd.cand.ID, now); ok && !cd.noBudget && b.Exhausted(rx, rx+tx) {
				out <- pathBudget
				return
			}
			lastRead := cd.ac.lastRead()
			if cd.s.pending() == 0 {
				dueSince = time.Time{}
				if !pinging && now.Sub(lastRead) >= interval {
					pinging = true
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), 2*backstop)
						cd.s.call(ctx, &wire.Ping{})
						cancel()
					}()
				}
				continue
			}
			pinging = false
			if dueSince.IsZero() {
				dueSince = now
			}
			lastWrite := time.Unix(0, cd.ac.lastWrite.Load())
			quiet := now.Sub(later(lastRead, lastWrite))
			if quiet >= limit || now.Sub(later(lastRead, dueSince)) >= backstop {
				out <- pathSilent
				return
			}
		}
	}()
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// keepPath runs the session of cd, handing it over to fresh connections as
// watchPath asks, until the session ends, ctx ends, or a silent path finds
// no other. It returns the last conduit and whether it ended silent.
func (c *Client) keepPath(ctx context.Context, network string, cd *conduit) (*conduit, bool) {
	for {
		stop := make(chan struct{})
		m := cd.s.meter.Load()
		if m == nil || cd.noBudget {
			m = c.newByteMeter(network, cd)
			cd.s.meter.Store(m)
		}
		events := c.watchPath(cd, network, m.fresh, stop)
		var ev pathEvent
		select {
		case <-ctx.Done():
		case <-cd.s.Done():
		case ev = <-events:
		}
		close(stop)
		if ev == 0 {
			return cd, false
		}
		start := time.Now()
		next, err := c.handover(ctx, network, cd, ev)
		switch {
		case err == nil:
			c.logf("client: %s; moved to a fresh connection (%s) in %v", eventText(ev, cd), next.cand, time.Since(start).Round(time.Millisecond))
			cd = next
		case ev == pathSilent:
			c.logf("client: %s and no fresh connection came up (%v); reconnecting", eventText(ev, cd), err)
			cd.s.close(errPathSilent)
			return cd, true
		default:
			c.logf("client: %s and no fresh connection came up (%v); staying until it freezes", eventText(ev, cd), err)
			cd.noBudget = true
		}
	}
}

func eventText(ev pathEvent, cd *conduit) string {
	if ev == pathSilent {
		return fmt.Sprintf("no answer on the path (silent after %d bytes received)", cd.ac.rx.Load())
	}
	return fmt.Sprintf("the connection used its share of the path's byte budget (%d bytes received)", cd.ac.rx.Load())
}

// handover dials a fresh connection and moves the session over to it
// before old is retired (make before break): for a budget, the same path
// first; for a silent path, a race of every path with old's put last among
// those that worked.
func (c *Client) handover(ctx context.Context, network string, old *conduit, ev pathEvent) (*conduit, error) {
	var path reach.Path
	err := errors.New("not tried")
	if ev == pathBudget {
		path, err = c.dialSame(ctx, network, old.cand)
	}
	if err != nil {
		if ev == pathSilent {
			c.reach.racer.Demote(network, old.cand)
		}
		path, err = c.reach.racer.Dial(ctx, network, c.candidates())
	}
	if err != nil {
		return nil, err
	}
	s, ac, err := c.sessionOf(ctx, path.Conn)
	if err != nil {
		path.Conn.Close()
		return nil, err
	}
	if err := c.registerDevice(ctx, s); err != nil {
		path.Conn.Close()
		return nil, err
	}
	next := &conduit{s: s, ac: ac, conn: path.Conn, cand: path.Candidate}
	s.meter.Store(c.newByteMeter(network, next)) // before a transfer sees s
	c.sessMu.Lock()
	c.sess = s
	c.sessMu.Unlock()
	c.retire(network, old, ev)
	if err := c.subscribe(ctx, s); err != nil {
		path.Conn.Close()
		return nil, err
	}
	c.setPath(pathOf(path.Candidate, time.Now()))
	c.poke(c.outboxCh)
	return next, nil
}

// dialSame opens a fresh connection on cand (a new flow gets a new budget).
func (c *Client) dialSame(ctx context.Context, network string, cand reach.Candidate) (reach.Path, error) {
	factory := c.opts.Paths
	if factory == nil {
		factory = c.directOnly
	}
	d, err := c.handshaking(factory)(cand)
	if err != nil {
		return reach.Path{}, err
	}
	dctx, cancel := context.WithTimeout(ctx, 2*raceHandshakeTimeout)
	defer cancel()
	conn, err := d.Dial(dctx)
	if err != nil {
		return reach.Path{}, err
	}
	return reach.Path{Conn: conn, Candidate: cand, Network: network, Since: time.Now()}, nil
}

// retire ends old after a handover. A connection at its budget share may
// first finish the answers it owes. A silent one is ended at once (its
// requests go again on the new session) but its connection lingers: if no
// byte arrives meanwhile, the freeze is confirmed and its byte count is
// learned as the path's budget.
func (c *Client) retire(network string, old *conduit, ev pathEvent) {
	if ev == pathBudget {
		deadline := time.Now().Add(drainWait)
		for old.s.pending() > 0 && old.s.alive() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		old.s.close(errRotated)
		old.conn.Close()
		return
	}
	rx, total := old.ac.rx.Load(), old.ac.rx.Load()+old.ac.txAtRead.Load()
	old.ac.linger(2*c.silenceLimit(old.ac), func(arrived bool) {
		if arrived {
			c.logf("client: the silent connection answered late; no byte budget learned")
			return
		}
		if c.reach.racer.Memory().NoteFreeze(network, old.cand.ID, rx, total, time.Now()) {
			b, _ := c.reach.racer.Memory().Budget(network, old.cand.ID, time.Now())
			c.logf("client: the connection froze after %d bytes received (%d both ways); the path's budget is now %d/%d", rx, total, b.RX, b.Total)
			c.saveReach()
		}
	})
	old.s.close(errPathSilent)
	old.conn.Close()
}

// lingerState keeps a retired connection open for a while (activityConn).
type lingerState struct {
	mu      sync.Mutex
	d       time.Duration
	report  func(arrived bool)
	started bool
}

// linger makes the next Close keep the connection open for d more, then
// close it and call report with whether any byte arrived meanwhile.
func (a *activityConn) linger(d time.Duration, report func(arrived bool)) {
	a.lg.mu.Lock()
	a.lg.d, a.lg.report = d, report
	a.lg.mu.Unlock()
}

func (a *activityConn) Close() error {
	a.lg.mu.Lock()
	if a.lg.report == nil {
		a.lg.mu.Unlock()
		return a.Conn.Close()
	}
	if !a.lg.started {
		a.lg.started = true
		rx0, d, report := a.rx.Load(), a.lg.d, a.lg.report
		time.AfterFunc(d, func() {
			report(a.rx.Load() > rx0)
			a.Conn.Close()
		})
	}
	a.lg.mu.Unlock()
	return nil
}
