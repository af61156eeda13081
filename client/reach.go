package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/wire"
)

// The client finds its own way to the server when its server link carries
// a book key (package reach): it keeps a reach.Cache of every verified path
// (the link's addresses and entries, the server's signed endpoint book,
// relays the user added), encrypted at rest in the local store with the
// dialer's memory; a reach.Keeper races the paths, runs the session over
// the winner and, when the session ends, dials again, backing off what
// failed. While connected the client refreshes the book. A path whose
// handshake fails (not our server) or that goes silent is reported as
// rejected, so the keeper backs it off and tries the others.

// Store keys of the reach state (namespace "reach").
var (
	reachCacheKey  = []byte("cache")
	reachMemoryKey = []byte("memory")
)

// bookRefresh is how often a connected client asks for a fresh book.
const bookRefresh = 6 * time.Hour

// PathStatus is the path to the server in use, for people.
type PathStatus struct {
	Connected bool
	Path      string    // `relay "Riga" (tlsws)`; never a secret
	ID        string    // the entry ID of the path
	Kind      string    // direct, relay, front
	Transport string    // direct, tlsws, obfs4, pt
	Since     time.Time // connected since, or disconnected since
	Retry     time.Time // when disconnected: next attempt, if known
	LastError string    // why the last path ended or failed
}

// String renders the status: `connected via relay "Riga" (tlsws) since 12:03`.
func (p PathStatus) String() string {
	return reach.StatusLine(p.Connected, p.Path, p.Since, p.Retry, p.LastError)
}

// reachState is the client's side of package reach.
type reachState struct {
	link   reach.Link
	cache  *reach.Cache
	racer  *reach.Racer
	keeper *reach.Keeper

	mu     sync.Mutex // guards status
	status PathStatus // valid when status.Connected

	bookMu sync.Mutex // one Book answer merged at a time (bookCall)
}

// errPathSilent ends a session whose path stopped carrying bytes.
var errPathSilent = errors.New("client: the path went silent (no answer to a ping)")

// loadReach reads the reach state of the account, or returns nil when the
// server link carries no book key.
func (c *Client) loadReach() (*reachState, error) {
	if c.keys.Server.Reach == "" {
		return nil, nil
	}
	l, err := reach.ParseLink(c.keys.Server.Reach)
	if err != nil {
		return nil, fmt.Errorf("client: the stored server link: %w", err)
	}
	id, ok := l.ServerID()
	if !ok {
		return nil, nil
	}
	if id.Chan != c.keys.Server.Key {
		return nil, errors.New("client: the stored server link pins two different keys")
	}
	now := time.Now()
	rs := &reachState{link: l}
	mem := reach.NewMemory()
	t, err := c.store.begin(context.Background())
	if err != nil {
		return nil, err
	}
	var cacheBytes []byte
	var memJSON json.RawMessage
	if t.get("reach", reachCacheKey, &cacheBytes) {
		if rs.cache, err = reach.UnmarshalCache(cacheBytes, id, now); err != nil {
			c.logf("client: the stored endpoint book is unusable, starting afresh: %v", err)
		}
	}
	if t.get("reach", reachMemoryKey, &memJSON) {
		if err := mem.UnmarshalJSON(memJSON); err != nil {
			c.logf("client: the stored dialer memory is unusable, starting afresh: %v", err)
		}
	}
	t.rollback()
	if rs.cache == nil {
		rs.cache = reach.NewCache(id)
	}
	if err := rs.cache.AddLink(l, reach.SourceLink, now); err != nil {
		// Expired entries of an old link; the book replaces them.
		c.logf("client: some entries of the server link were not added: %v", err)
	}
	factory := c.opts.Paths
	if factory == nil {
		factory = c.directOnly
	}
	// The race runs through the secure channel and the wire hello: a path
	// wins when it has an authenticated session with our server, not when
	// its TCP connects (reach_session.go).
	rs.racer = reach.NewRacer(reach.RacerConfig{Factory: c.handshaking(factory), Memory: mem, Logf: c.logf})
	rs.keeper = reach.NewKeeper(reach.KeeperConfig{
		Racer:      rs.racer,
		Network:    reach.LocalNetwork,
		Candidates: c.candidates,
		Session:    c.reachSession,
		OnStatus: func(s reach.Status) {
			// A session's end is reported by reachSession; the keeper
			// adds when it waits before the next try.
			if !s.Connected && !s.Retry.IsZero() && c.opts.OnPath != nil {
				c.opts.OnPath(pathStatus(s))
			}
		},
	})
	return rs, nil
}

// directOnly is the dialer factory without Options.Paths: direct paths
// through Options.Dialer.
func (c *Client) directOnly(cand reach.Candidate) (transport.Dialer, error) {
	if cand.Spec.Name != "direct" || cand.Proxy != "" {
		return nil, fmt.Errorf("client: no dialer for %s paths here", cand.Spec.Name)
	}
	addr := cand.Spec.Addr
	return transport.DialerFunc(func(ctx context.Context) (net.Conn, error) { return c.opts.Dialer(ctx, addr) }), nil
}

// candidates is what the keeper tries: every live path the cache knows,
// through the user's proxy if there is one.
func (c *Client) candidates() []reach.Candidate {
	cands := c.reach.cache.Candidates(time.Now())
	for i := range cands {
		cands[i].Proxy = c.opts.Proxy
	}
	return cands
}

func pathStatus(s reach.Status) PathStatus {
	p := PathStatus{Connected: s.Connected, Since: s.Since, Retry: s.Retry}
	if s.LastError != nil {
		p.LastError = s.LastError.Error()
	}
	return p
}

func pathOf(cand reach.Candidate, since time.Time) PathStatus {
	return PathStatus{Connected: true, Path: cand.String(), ID: cand.ID, Kind: cand.Kind.String(), Transport: cand.Spec.Name, Since: since}
}

// Path returns the path to the server in use, or why there is none.
// Without a book key in the server link it reports only whether the client
// is online.
func (c *Client) Path() PathStatus {
	if c.reach == nil {
		c.sessMu.Lock()
		on := c.sess != nil && c.sess.alive()
		addr := ""
		if on {
			addr = c.sess.addr
		}
		c.sessMu.Unlock()
		if on {
			return PathStatus{Connected: true, Path: "direct to " + addr + " (server link)", Kind: "direct", Transport: "direct"}
		}
		return PathStatus{}
	}
	c.reach.mu.Lock()
	st := c.reach.status
	c.reach.mu.Unlock()
	if st.Connected {
		return st
	}
	return pathStatus(c.reach.keeper.Status())
}

func (c *Client) setPath(p PathStatus) {
	c.reach.mu.Lock()
	c.reach.status = p
	c.reach.mu.Unlock()
	if c.opts.OnPath != nil {
		c.opts.OnPath(p)
	}
}

// reachLoop keeps a session up through the keeper until ctx ends.
func (c *Client) reachLoop(ctx context.Context) {
	c.reach.keeper.Run(ctx)
	c.saveReach()
}

// setupFloorRate is the slowest link a session's setup is waited on, in
// bytes a second: a request's bytes are given this long to leave before
// its answer counts as overdue, so that a first setup that publishes a
// batch of KeyPackages (up to about 150 KB) over a throttled link (Russia
// held Twitter's flows to 130-150 kbps in 2021) is not taken for silence.
const setupFloorRate = 4 << 10

// setupWatched sets up cd's session (setupSession) while judging the
// path's silence: a path that carried the secure channel and the hello
// and then drops what the client sends (a censor's black hole after a
// flow's opening) ends the session once an answer is overdue, and the
// keeper races again, instead of the setup waiting on it for as long as
// the censor likes. An answer is overdue when a request waits and nothing
// has moved either way for the path's silence limit (silenceLimit) plus
// the time the bytes written since the last answer take at
// setupFloorRate. silent reports that it ended so.
func (c *Client) setupWatched(ctx context.Context, cd *conduit) (silent bool, err error) {
	limit := c.silenceLimit(cd.ac)
	stop := make(chan struct{})
	var wentSilent atomic.Bool
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(min(max(limit/4, 20*time.Millisecond), 250*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-cd.s.Done():
				return
			case <-t.C:
			}
			if cd.s.pending() == 0 {
				continue
			}
			unanswered := max(cd.ac.tx.Load()-cd.ac.txAtRead.Load(), 0)
			allow := limit + time.Duration(unanswered)*time.Second/setupFloorRate
			moved := later(cd.ac.lastRead(), time.Unix(0, cd.ac.lastWrite.Load()))
			if time.Since(moved) >= allow {
				wentSilent.Store(true)
				cd.s.close(errPathSilent)
				return
			}
		}
	}()
	err = c.setupSession(ctx, cd.s)
	close(stop)
	<-watched
	return err != nil && wentSilent.Load(), err
}

// reachSession is the keeper's Session: the secure channel and the wire
// session over a path that won the race, until it ends.
func (c *Client) reachSession(ctx context.Context, p reach.Path) error {
	s, ac, err := c.sessionOf(ctx, p.Conn)
	if err != nil {
		return err
	}
	if c.testHookSetup != nil {
		c.testHookSetup()
	}
	cd := &conduit{s: s, ac: ac, conn: p.Conn, cand: p.Candidate}
	if silent, err := c.setupWatched(ctx, cd); err != nil {
		if silent {
			c.logf("client: the path went silent while the session was set up (%s); reconnecting", p.Candidate)
			return fmt.Errorf("%w: %w", reach.ErrPathRejected, errPathSilent)
		}
		c.noteConnect(err) // errclass.go: refused by the server
		return err
	}
	c.noteConnect(nil)
	// The path first: whoever sees the session up (WaitOnline) reads it.
	c.setPath(pathOf(p.Candidate, time.Now()))
	s.meter.Store(c.newByteMeter(p.Network, cd)) // before a transfer sees s
	s.booked = make(chan struct{})               // refreshBook's first fetch, below
	c.sessMu.Lock()
	c.sess = s
	close(c.sessCh)
	c.sessMu.Unlock()
	c.saveReach()
	c.poke(c.outboxCh)
	c.poke(c.topupCh)
	if !c.testNoSyncOnConnect {
		go c.syncOwnDevices(ctx)
	}
	done := make(chan struct{})
	defer close(done)
	go c.refreshBook(ctx, done, s)
	go c.checkRelays(ctx, done, p.Network, p.Candidate) // reach_report.go
	cd, silent := c.keepPath(ctx, p.Network, cd)
	s = cd.s
	c.sessMu.Lock()
	c.sess = nil
	c.sessCh = make(chan struct{})
	c.sessMu.Unlock()
	s.close(errors.New("client: reconnecting"))
	cd.conn.Close()
	err = s.deadErr()
	if rerr := c.noteRevoked(err); rerr != err {
		return rerr // the client's context is cancelled: the keeper stops
	}
	c.setPath(PathStatus{Since: time.Now(), LastError: err.Error()})
	c.saveReach()
	if !silent {
		return err
	}
	if cd.cand.ID != p.Candidate.ID {
		// The session had moved to another path: blame that one.
		c.reach.racer.Failed(p.Network, cd.cand, err)
		return err
	}
	return fmt.Errorf("%w: %w", reach.ErrPathRejected, errPathSilent)
}

// handshakeSession runs the secure channel pinned to the link's key and
// the wire hello over an open path, within timeout. On failure it closes nc.
func handshakeSession(ctx context.Context, nc net.Conn, timeout time.Duration, link ServerLink, device []byte, in *inbox) (*session, error) {
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { nc.SetDeadline(time.Now()) })
	sc, err := secureClient(hctx, nc, link, device)
	if !stop() {
		nc.Close()
		return nil, fmt.Errorf("client: secure channel: %w", hctx.Err())
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("client: secure channel (is the server link current?): %w", err)
	}
	mark := in.newMark()
	ws := NewSession(sc, in.frameHandler(mark))
	mark.sess.Store(ws)
	hello, err := ws.Hello(hctx)
	if err != nil {
		ws.End(err)
		return nil, fmt.Errorf("client: hello: %w", err)
	}
	return &session{Session: ws, hello: hello, backlog: mark}, nil
}

// refreshBook fetches the endpoint book now and every bookRefresh over the
// session in use, until done is closed, and merges it into the cache. It
// tells first, the session it starts on, when its first fetch is over.
func (c *Client) refreshBook(ctx context.Context, done <-chan struct{}, first *session) {
	defer first.bookTried() // also when no fetch ran
	for {
		c.sessMu.Lock()
		s := c.sess
		c.sessMu.Unlock()
		if s == nil {
			return
		}
		err := c.bookCall(ctx, s, &wire.FetchBook{Have: c.reach.cache.Version()}, BookChange{}) // reach_report.go
		first.bookTried()
		switch {
		case err == nil:
		case wireCode(err) == wire.CodeNotFound:
			return // this server publishes no book
		default:
			c.logf("client: fetching the endpoint book: %v", err)
		}
		if !sleepUnless(ctx, done, bookRefresh) {
			return
		}
	}
}

// saveReach writes the cache and the dialer memory to the local store.
func (c *Client) saveReach() {
	cb, err := c.reach.cache.MarshalBinary()
	if err != nil {
		c.logf("client: saving the endpoint book: %v", err)
		return
	}
	mj, err := c.reach.racer.Memory().MarshalJSON()
	if err != nil {
		return
	}
	t, err := c.store.begin(context.Background())
	if err != nil {
		return
	}
	t.put("reach", reachCacheKey, cb)
	t.put("reach", reachMemoryKey, json.RawMessage(mj))
	if err := t.commit(); err != nil {
		c.logf("client: saving the endpoint book: %v", err)
	}
}

// AddRelay adds the paths of a relay link (or a server link of this
// server) to the client's endpoint book: a relay someone passed on, or
// one the user runs. Unsigned entries are marked so; the secure channel
// still pins the server key, so a bad relay can fail but not read.
func (c *Client) AddRelay(link string) error {
	if c.reach == nil {
		return errors.New("client: this account's server link has no book key; ask the server's operator for a current link")
	}
	l, err := reach.ParseLink(link)
	if err != nil {
		return err
	}
	if err := c.reach.cache.AddLink(l, reach.SourceUser, time.Now()); err != nil {
		return err
	}
	c.saveReach()
	return nil
}

// KnownPaths lists the paths the client knows, for people (no secrets).
func (c *Client) KnownPaths() []string {
	if c.reach == nil {
		return nil
	}
	var out []string
	for _, cand := range c.reach.cache.Candidates(time.Now()) {
		out = append(out, cand.String())
	}
	return out
}
