package censor

import (
	"sort"
	"sync"
	"time"
)

// Clock is the engine's notion of time. Rules read it to timestamp flows,
// pace throttled bytes and expire residual blocks; the engine schedules
// blocklist growth, probes and enumeration on it. Tests inject a FakeClock so
// that "180 s later" takes no time and replays byte for byte.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f once, d after now, on a goroutine of the clock's
	// choosing (FakeClock runs it inside Advance).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled call that can be cancelled.
type Timer interface {
	// Stop cancels the call; it reports whether the call was still pending.
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// FakeClock is a manual clock for tests: time moves only in Advance, which
// runs every call that falls due, in time order, on the caller's goroutine.
type FakeClock struct {
	mu     sync.Mutex // guards now, timers, seq
	now    time.Time
	timers []*fakeTimer
	seq    uint64
}

type fakeTimer struct {
	c    *FakeClock
	when time.Time
	seq  uint64 // ties broken in scheduling order
	f    func()
	done bool // fired or stopped; guarded by c.mu
}

// NewFakeClock returns a clock that reads start until advanced.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d; d <= 0 fires at the next Advance.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop cancels the timer.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	return true
}

// Advance moves the clock forward by d, running due calls in time order.
// A call scheduled by another call runs too if it falls within d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var live []*fakeTimer
		for _, t := range c.timers {
			if !t.done {
				live = append(live, t)
			}
		}
		sort.Slice(live, func(i, j int) bool {
			if !live[i].when.Equal(live[j].when) {
				return live[i].when.Before(live[j].when)
			}
			return live[i].seq < live[j].seq
		})
		c.timers = live
		if len(live) == 0 || live[0].when.After(target) {
			c.now = target
			c.mu.Unlock()
			return
		}
		t := live[0]
		t.done = true
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
	}
}
