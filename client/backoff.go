package client

import (
	"context"
	"time"
)

// retryStart is the first wait of a retry loop after a failure.
const retryStart = 100 * time.Millisecond

// backoff is a retry loop's wait after a failure: retryStart, doubled
// after every failed attempt up to most, back to retryStart after a
// success.
type backoff struct {
	next, most time.Duration
}

func newBackoff(most time.Duration) backoff { return backoff{next: retryStart, most: most} }

// sleep waits the next wait, or d instead when d > 0 (a server's retry
// after), and doubles the next one. It reports false if ctx ended first.
func (b *backoff) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		d = b.next
	}
	b.next = min(b.next*2, b.most)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// reset starts the waits again from retryStart, after a success.
func (b *backoff) reset() { b.next = retryStart }
