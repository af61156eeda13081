//go:build !linux

package tlsws

import "time"

// shortSleep sleeps d; elsewhere than Linux on Go's timers (a millisecond
// at best when the program is idle, which oversleep offsets on average).
func shortSleep(d time.Duration) { time.Sleep(d) }
