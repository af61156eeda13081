package reach

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/transport"
)

// fakeClock is a manual clock: After fires when Advance passes its time.
type fakeClock struct {
	mu      sync.Mutex // guards now and waiters
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// waitWaiters blocks until someone waits on the clock.
func (c *fakeClock) waitWaiters(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := len(c.waiters)
		c.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("nobody waits on the clock")
}

// fakeNet hands out scripted dialers: each dial announces itself on started
// and then does what the test sends on its control channel.
type fakeNet struct {
	started chan string
	mu      sync.Mutex // guards ctrl and conns
	ctrl    map[string]chan dialOutcome
	conns   []*trackedConn
}

type dialOutcome struct {
	fail error
}

type trackedConn struct {
	net.Conn
	id     string
	closed atomic.Bool
}

func (c *trackedConn) Close() error { c.closed.Store(true); return c.Conn.Close() }

func newFakeNet(ids ...string) *fakeNet {
	n := &fakeNet{started: make(chan string, 100), ctrl: make(map[string]chan dialOutcome)}
	for _, id := range ids {
		n.ctrl[id] = make(chan dialOutcome, 10)
	}
	return n
}

func (n *fakeNet) factory(c Candidate) (transport.Dialer, error) {
	return transport.DialerFunc(func(ctx context.Context) (net.Conn, error) {
		n.started <- c.ID
		n.mu.Lock()
		ch := n.ctrl[c.ID]
		n.mu.Unlock()
		select {
		case o := <-ch:
			if o.fail != nil {
				return nil, o.fail
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		a, b := net.Pipe()
		go func() { b.Close() }()
		tc := &trackedConn{Conn: a, id: c.ID}
		n.mu.Lock()
		n.conns = append(n.conns, tc)
		n.mu.Unlock()
		return tc, nil
	}), nil
}

func (n *fakeNet) expectStart(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-n.started:
		if got != want {
			t.Fatalf("started %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s never started", want)
	}
}

func (n *fakeNet) expectNoStart(t *testing.T) {
	t.Helper()
	select {
	case got := <-n.started:
		t.Fatalf("%s started early", got)
	case <-time.After(30 * time.Millisecond):
	}
}

func cands(ids ...string) []Candidate {
	var out []Candidate
	for _, id := range ids {
		out = append(out, Candidate{ID: id, Kind: KindRelay, Spec: transport.Spec{Name: "direct", Addr: "192.0.2.1:1"}, Signed: true})
	}
	return out
}

type dialResult struct {
	p   Path
	err error
}

func startDial(r *Racer, network string, cs []Candidate) chan dialResult {
	ch := make(chan dialResult, 1)
	go func() {
		p, err := r.Dial(context.Background(), network, cs)
		ch <- dialResult{p, err}
	}()
	return ch
}

func newTestRacer(clock *fakeClock, n *fakeNet) *Racer {
	return NewRacer(RacerConfig{Factory: n.factory, Clock: clock, Stagger: 250 * time.Millisecond,
		Backoff: Backoff{Base: time.Second, Max: 8 * time.Second},
		RandN:   func(n int64) int64 { return n - 1 }}) // the longest delay: d
}

func TestRacerStaggersAndFirstWins(t *testing.T) {
	clock, n := newFakeClock(), newFakeNet("a", "b", "c")
	r := newTestRacer(clock, n)
	res := startDial(r, "wifi", cands("a", "b", "c"))
	n.expectStart(t, "a")
	n.expectNoStart(t) // b waits for the stagger
	clock.waitWaiters(t)
	clock.Advance(250 * time.Millisecond)
	n.expectStart(t, "b")
	n.ctrl["b"] <- dialOutcome{}
	got := <-res
	if got.err != nil || got.p.Candidate.ID != "b" || got.p.Network != "wifi" || !got.p.Since.Equal(clock.Now()) {
		t.Fatalf("Dial = %+v, %v", got.p, got.err)
	}
	n.expectNoStart(t) // c never started
	if tc := got.p.Conn.(*trackedConn); tc.closed.Load() {
		t.Fatal("the winner was closed")
	}
	if !r.Memory().LastWorked("wifi", "b").Equal(clock.Now()) {
		t.Fatal("the winner was not remembered")
	}
	if r.Memory().Failures("wifi", "a") != 0 {
		t.Fatal("a lost the race and was backed off as if it failed")
	}
}

// TestRacerClosesLateLosers: a loser whose transport connects after the race
// ended is closed.
func TestRacerClosesLateLosers(t *testing.T) {
	clock := newFakeClock()
	release := make(chan struct{})
	var late *trackedConn
	lateDone := make(chan struct{})
	factory := func(c Candidate) (transport.Dialer, error) {
		return transport.DialerFunc(func(ctx context.Context) (net.Conn, error) {
			a, b := net.Pipe()
			go b.Close()
			tc := &trackedConn{Conn: a, id: c.ID}
			if c.ID == "slow" {
				<-release // ignores ctx, as a buggy transport might
				late = tc
				close(lateDone)
			}
			return tc, nil
		}), nil
	}
	r := NewRacer(RacerConfig{Factory: factory, Clock: clock, Stagger: time.Second})
	res := startDial(r, "", cands("slow", "fast"))
	clock.waitWaiters(t)
	clock.Advance(time.Second)
	got := <-res
	if got.err != nil || got.p.Candidate.ID != "fast" {
		t.Fatalf("Dial = %v, %v", got.p.Candidate, got.err)
	}
	close(release)
	<-lateDone
	deadline := time.Now().Add(5 * time.Second)
	for !late.closed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the late loser was never closed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRacerFailureStartsNextAndBacksOff(t *testing.T) {
	clock, n := newFakeClock(), newFakeNet("a", "b")
	r := newTestRacer(clock, n)
	res := startDial(r, "wifi", cands("a", "b"))
	n.expectStart(t, "a")
	n.ctrl["a"] <- dialOutcome{fail: errors.New("refused")}
	n.expectStart(t, "b") // at once, without the stagger
	n.ctrl["b"] <- dialOutcome{fail: errors.New("reset")}
	got := <-res
	if got.err == nil || got.p.Conn != nil {
		t.Fatalf("Dial succeeded: %+v", got.p)
	}
	// Both are backed off by Base (RandN gives the top of [d/2, d]).
	until, off := r.Memory().BackedOff("wifi", "a", clock.Now())
	if !off || !until.Equal(t0.Add(time.Second)) {
		t.Fatalf("a backed off until %v (%v)", until, off)
	}
	var bo *BackedOffError
	if _, err := r.Dial(context.Background(), "wifi", cands("a", "b")); !errors.As(err, &bo) || !bo.Until.Equal(t0.Add(time.Second)) {
		t.Fatalf("Dial while backed off = %v", err)
	}
	// Another network is not affected.
	res = startDial(r, "lte", cands("a"))
	n.expectStart(t, "a")
	n.ctrl["a"] <- dialOutcome{}
	if got := <-res; got.err != nil {
		t.Fatal(got.err)
	}
	// After the delay a is tried again; a second failure doubles the delay.
	clock.Advance(time.Second)
	res = startDial(r, "wifi", cands("a"))
	n.expectStart(t, "a")
	n.ctrl["a"] <- dialOutcome{fail: errors.New("refused")}
	<-res
	if until, _ := r.Memory().BackedOff("wifi", "a", clock.Now()); !until.Equal(clock.Now().Add(2 * time.Second)) {
		t.Fatalf("second backoff until %v, want +2s", until.Sub(clock.Now()))
	}
	// The caller reports a handshake failure on a path that connected.
	r.Failed("lte", cands("a")[0], ErrPathRejected)
	if _, off := r.Memory().BackedOff("lte", "a", clock.Now()); !off {
		t.Fatal("a rejected path is not backed off")
	}
	if !r.Memory().LastWorked("lte", "a").IsZero() {
		t.Fatal("a rejected path is still remembered as working")
	}
}

func TestBackoffDelays(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second}
	lo := func(n int64) int64 { return 0 }
	hi := func(n int64) int64 { return n - 1 }
	for _, tc := range []struct {
		failures int
		lo, hi   time.Duration
	}{{1, 500 * time.Millisecond, time.Second}, {2, time.Second, 2 * time.Second}, {4, 4 * time.Second, 8 * time.Second}, {5, 5 * time.Second, 10 * time.Second}, {60, 5 * time.Second, 10 * time.Second}} {
		if got := b.Delay(tc.failures, lo); got != tc.lo {
			t.Errorf("failure %d: lowest %v, want %v", tc.failures, got, tc.lo)
		}
		if got := b.Delay(tc.failures, hi); got != tc.hi {
			t.Errorf("failure %d: highest %v, want %v", tc.failures, got, tc.hi)
		}
	}
	// Real jitter spreads clients out.
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[b.Delay(3, defaultRandN)] = true
	}
	if len(seen) < 10 {
		t.Errorf("jitter gave only %d distinct delays", len(seen))
	}
}

func TestRacerRemembersPerNetwork(t *testing.T) {
	clock, n := newFakeClock(), newFakeNet("a", "b", "c")
	r := newTestRacer(clock, n)
	res := startDial(r, "home-wifi", cands("a", "b", "c"))
	n.expectStart(t, "a")
	n.ctrl["a"] <- dialOutcome{fail: errors.New("blocked")}
	n.expectStart(t, "b")
	n.ctrl["b"] <- dialOutcome{fail: errors.New("blocked")}
	n.expectStart(t, "c")
	n.ctrl["c"] <- dialOutcome{}
	if got := <-res; got.err != nil || got.p.Candidate.ID != "c" {
		t.Fatalf("%v %v", got.p.Candidate, got.err)
	}
	clock.Advance(time.Hour) // backoffs over
	order, _ := r.Order("home-wifi", cands("a", "b", "c"))
	if order[0].ID != "c" || order[1].ID != "a" || order[2].ID != "b" {
		t.Fatalf("home-wifi order %v", order)
	}
	if order, _ := r.Order("mobile", cands("a", "b", "c")); order[0].ID != "a" {
		t.Fatalf("mobile order %v", order)
	}
	res = startDial(r, "home-wifi", cands("a", "b", "c"))
	n.expectStart(t, "c")
	n.ctrl["c"] <- dialOutcome{}
	<-res

	// The memory survives serialization.
	data, err := r.Memory().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	m := NewMemory()
	if err := m.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	r2 := NewRacer(RacerConfig{Factory: n.factory, Clock: clock, Memory: m})
	if order, _ := r2.Order("home-wifi", cands("a", "b", "c")); order[0].ID != "c" {
		t.Fatalf("after reload %v", order)
	}
}

func TestRacerEdgeCases(t *testing.T) {
	clock, n := newFakeClock(), newFakeNet("a")
	r := newTestRacer(clock, n)
	if _, err := r.Dial(context.Background(), "", nil); !errors.Is(err, ErrNoCandidates) {
		t.Errorf("no candidates: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { _, err := r.Dial(ctx, "", cands("a", "a")); ch <- err }()
	n.expectStart(t, "a")
	cancel()
	if err := <-ch; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Dial = %v", err)
	}
	n.expectNoStart(t) // the duplicate was dropped
	if r.Memory().Failures("", "a") != 0 {
		t.Error("a cancelled dial was counted as a failure")
	}
	broken := NewRacer(RacerConfig{Clock: clock, Factory: func(Candidate) (transport.Dialer, error) {
		return nil, errors.New("unknown transport")
	}})
	if _, err := broken.Dial(context.Background(), "", cands("x")); err == nil {
		t.Error("a factory error did not fail the dial")
	}
}
