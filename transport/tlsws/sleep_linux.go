package tlsws

import (
	"syscall"
	"time"
)

// shortSleep sleeps d (under a couple of milliseconds) in the thread, to
// tens of microseconds: Go's timers wake an idle program on the poller's
// millisecond clock, and yielding in a loop instead keeps the scheduler
// from polling the network (the process's other conns wait).
func shortSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
