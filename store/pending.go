package store

import (
	"context"
	"fmt"
)

// Both SQL stores commit Sends in batches from one queue: a caller queues a
// request with a buffered channel of its own, the store's batching goroutine
// answers it there exactly once, and closes a channel when it has stopped
// and answered every request it took. What follows is the callers' side of
// that queue, once for both.

// Answer is a queued request's answer: what Enqueue returns.
type Answer struct {
	Res Result
	Err error
}

// Queue is the callers' view of a store's write queue.
type Queue struct {
	// Stopped is closed once the store's batching goroutine has returned
	// and answered every request it took.
	Stopped <-chan struct{}
	// Pkg names the store in errors: "<Pkg>: doing what: …".
	Pkg string
}

// Closed is the error of a request the store stopped before taking.
func (q Queue) Closed(what string) error {
	return fmt.Errorf("%s: doing %s: %w", q.Pkg, what, ErrClosed)
}

// Await waits for the answer on done (a request queued to q), or for ctx
// to end: the request then stays queued and may still be committed. An
// answer that raced with the store's stop is still taken.
func (q Queue) Await(ctx context.Context, what string, done <-chan Answer) (Result, error) {
	select {
	case a := <-done:
		return a.Res, a.Err
	case <-q.Stopped:
		select {
		case a := <-done:
			return a.Res, a.Err
		default:
			return Result{}, q.Closed(what)
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%s: doing %s (it may still be committed): %w", q.Pkg, what, ctx.Err())
	}
}

// Pending is the PendingSend of a Send queued to q with done.
func (q Queue) Pending(what string, done <-chan Answer) PendingSend {
	return &pending{q: q, what: what, done: done}
}

// Refused is the PendingSend of a Send answered before it was queued (an
// invalid Send, a closed store, a caller's ctx that ended).
func Refused(err error) PendingSend {
	return &pending{answered: true, ans: Answer{Err: err}}
}

// RefuseQueued answers err to every request left in reqs, without
// waiting: a stopping store's last act, so that no caller waits forever.
func RefuseQueued[R any](reqs <-chan R, done func(R) chan<- Answer, err error) {
	for {
		select {
		case r := <-reqs:
			done(r) <- Answer{Err: err}
		default:
			return
		}
	}
}

// pending implements PendingSend; it is used by one goroutine.
type pending struct {
	q        Queue
	what     string
	done     <-chan Answer
	answered bool
	ans      Answer
}

func (p *pending) Ready() bool {
	if !p.answered {
		select {
		case p.ans = <-p.done:
			p.answered = true
		default:
		}
	}
	return p.answered
}

func (p *pending) Wait() (Result, error) {
	if !p.answered {
		p.ans.Res, p.ans.Err = p.q.Await(context.Background(), p.what, p.done)
		p.answered = true
	}
	return p.ans.Res, p.ans.Err
}
