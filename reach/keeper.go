package reach

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrPathRejected is what a Session wraps when the path connected but is no
// good: the secure-channel handshake failed, the server key did not match,
// the relay answered like a cover website. The keeper backs the path off.
var ErrPathRejected = errors.New("reach: path rejected")

// KeeperConfig configures a Keeper.
type KeeperConfig struct {
	Racer *Racer // required

	// Network identifies the network the device is on now (see Memory).
	// Called before every dial; nil means one network, "".
	Network func() string

	// Candidates returns what to try, e.g. Cache.Candidates plus the link's
	// entries plus the user's proxy. Called before every dial.
	Candidates func() []Candidate

	// Session runs the secure channel over the path until it ends, and
	// returns why. Wrap ErrPathRejected when the handshake failed. The
	// keeper closes p.Conn after Session returns. Required.
	Session func(ctx context.Context, p Path) error

	// MinHealthy: a session that ends sooner than this without a rejection
	// demotes its path to the end of the next race; three such sessions in
	// a row on the same path count as a failure and back it off (a relay
	// that accepts and then drops every session). Default 10s.
	MinHealthy time.Duration

	// OnStatus, if set, is called on every change of status (from the
	// keeper's goroutine; it must not block).
	OnStatus func(Status)
}

// Status is what the keeper is doing, for the CLI.
type Status struct {
	Connected bool
	Path      Candidate // valid when Connected
	Network   string
	Since     time.Time // connected since, or disconnected since
	Retry     time.Time // when disconnected and waiting: next attempt
	LastError error     // why the last attempt or session ended
}

// String renders the status for people, in local time:
// `connected via relay "Riga" (tlsws) since 12:03`.
func (s Status) String() string {
	lastError := ""
	if s.LastError != nil {
		lastError = s.LastError.Error()
	}
	return StatusLine(s.Connected, s.Path.String(), s.Since, s.Retry, lastError)
}

// StatusLine renders a path status for people, in local time: connected
// via path since when, or not connected (since when, the next try, the
// last error, as far as known). Status and the client's PathStatus use it.
func StatusLine(connected bool, path string, since, retry time.Time, lastError string) string {
	if connected {
		return fmt.Sprintf("connected via %s since %s", path, since.Local().Format("15:04"))
	}
	msg := "not connected"
	if !since.IsZero() {
		msg += " since " + since.Local().Format("15:04")
	}
	if !retry.IsZero() {
		msg += "; next try at " + retry.Local().Format("15:04:05")
	}
	if lastError != "" {
		msg += " (" + lastError + ")"
	}
	return msg
}

// Keeper keeps one connection to the server alive in the background: it
// races the candidates, runs the session over the winner, and when the
// session ends dials again, backing off paths that failed. Its goroutine is
// owned by the context given to Run.
type Keeper struct {
	cfg KeeperConfig

	mu     sync.Mutex // guards status
	status Status
}

// NewKeeper returns a Keeper; call Run to start it.
func NewKeeper(cfg KeeperConfig) *Keeper {
	if cfg.Network == nil {
		cfg.Network = func() string { return "" }
	}
	if cfg.MinHealthy <= 0 {
		cfg.MinHealthy = 10 * time.Second
	}
	if cfg.Candidates == nil {
		cfg.Candidates = func() []Candidate { return nil }
	}
	return &Keeper{cfg: cfg}
}

// Status returns the current status.
func (k *Keeper) Status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status
}

func (k *Keeper) setStatus(s Status) {
	k.mu.Lock()
	k.status = s
	k.mu.Unlock()
	if k.cfg.OnStatus != nil {
		k.cfg.OnStatus(s)
	}
}

// noCandidateWait is how long the keeper waits when it has nothing to try.
const noCandidateWait = 30 * time.Second

// Run keeps the connection until ctx ends, then returns ctx.Err().
// maxShortSessions is how many short sessions in a row back a path off.
const maxShortSessions = 3

func (k *Keeper) Run(ctx context.Context) error {
	r := k.cfg.Racer
	clock := r.cfg.Clock
	down := clock.Now()
	k.setStatus(Status{Since: down})
	var (
		shortID  string // the path of the last short sessions
		shortRun int    // how many in a row
	)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		network := k.cfg.Network()
		path, err := r.Dial(ctx, network, k.cfg.Candidates())
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			wait := time.Duration(0)
			var bo *BackedOffError
			switch {
			case errors.As(err, &bo):
				wait = max(bo.Until.Sub(clock.Now()), time.Millisecond)
			case errors.Is(err, ErrNoCandidates):
				wait = noCandidateWait
			}
			// After "every path failed" the paths are backed off now, so the
			// next Dial returns a BackedOffError with the wait.
			var retry time.Time
			if wait > 0 {
				retry = clock.Now().Add(wait)
			}
			k.setStatus(Status{Network: network, Since: down, Retry: retry, LastError: err})
			if wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-clock.After(wait):
				}
			}
			continue
		}
		k.setStatus(Status{Connected: true, Path: path.Candidate, Network: network, Since: path.Since})
		serr := k.cfg.Session(ctx, path)
		path.Conn.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		down = clock.Now()
		switch {
		case errors.Is(serr, ErrPathRejected):
			r.Failed(network, path.Candidate, serr)
		case down.Sub(path.Since) < k.cfg.MinHealthy:
			// It reached our server, so it is not backed off at once: it
			// goes to the end of the next race (lab: a censor cutting live
			// flows must not lock the client out of its only working
			// path). Repeated short sessions do back it off.
			if path.Candidate.ID == shortID {
				shortRun++
			} else {
				shortID, shortRun = path.Candidate.ID, 1
			}
			if shortRun >= maxShortSessions {
				r.Failed(network, path.Candidate, serr)
				shortID, shortRun = "", 0
			} else {
				r.Demote(network, path.Candidate)
			}
		default:
			shortID, shortRun = "", 0
		}
		if serr == nil {
			serr = errors.New("reach: session ended")
		}
		k.setStatus(Status{Network: network, Since: down, LastError: serr})
	}
}
