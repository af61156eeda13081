package tlsws

import (
	"runtime"
	"sync/atomic"
	"time"
)

// The replay's timing (shape.go): a trace's records go out at their
// times, many of them a fraction of a millisecond after what they follow.

// shortWindow is how much of a wait sleepUntil leaves to shortSleep
// instead of a timer: Go's timers wake an idle program on the poller's
// clock, a millisecond at best (a 0.3 ms timer fires after 1.1 ms), while
// the trace's server answers come 0.2-0.6 ms after what they answer.
const shortWindow = 1500 * time.Microsecond

// sleepUntil returns at deadline, to tens of microseconds: a timer for
// all but the last shortWindow, then shortSleep, ended early by what
// sleeps overran of late (oversleep); false when closed closes meanwhile.
func sleepUntil(deadline time.Time, closed <-chan struct{}) bool {
	if wait := time.Until(deadline) - shortWindow; wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-closed:
			t.Stop()
			return false
		}
	}
	if left := time.Until(deadline); left > 0 && left <= spinMost && runtime.GOMAXPROCS(0) > 1 && spinning.CompareAndSwap(false, true) {
		for time.Now().Before(deadline) {
		}
		spinning.Store(false)
	} else if left > 0 {
		early := time.Duration(oversleep.Load())
		if left > early {
			shortSleep(left - early)
		}
		step := oversleepStep
		if time.Now().Before(deadline) {
			step = -step
		}
		oversleep.Store(int64(min(max(early+step, 0), maxOversleep)))
	}
	select {
	case <-closed:
		return false
	default:
		return true
	}
}

// A wait of at most spinMost is spent running, by one goroutine of the
// process at a time (spinning) and only with a second processor: a
// thread that sleeps, however briefly, waits for the machine to run it
// again, which under load took 5-27 ms for a 0.3 ms sleep now and then,
// while the web server a trace was recorded from answers as it reads.
// Running in a loop costs the processor at most spinMost per record (a
// few records an opening); it does not yield to the scheduler, which
// would stop it from polling the network while every processor yields.
const spinMost = time.Millisecond

var spinning atomic.Bool

// oversleep is how much earlier than due sleepUntil starts ending its
// sleeps, so that half of them end on time or later: the median of their
// overrun, which a machine's load and the thread's timer slack (50 us on
// Linux) set, tracked by a step up after each late one and down after
// each early one (a mean would follow the load's rare long delays and
// end most sleeps early), at most maxOversleep.
var oversleep atomic.Int64

const (
	oversleepStep = 5 * time.Microsecond
	maxOversleep  = time.Millisecond
)
