package store

import (
	"context"
	"errors"
	"testing"
)

// TestQueueAnswers: a queued Send's answer is taken once; a store that
// stops after answering still gives the answer; one that stops without it
// gives ErrClosed; a caller's ctx ending says the Send may be committed.
func TestQueueAnswers(t *testing.T) {
	stopped := make(chan struct{})
	q := Queue{Stopped: stopped, Pkg: "test"}
	done := make(chan Answer, 1)
	p := q.Pending("enqueue", done)
	if p.Ready() {
		t.Fatal("Ready before any answer")
	}
	done <- Answer{Res: Result{Skipped: 2}}
	close(stopped) // the answer raced with the stop: it still counts
	if !p.Ready() {
		t.Fatal("not Ready after the answer")
	}
	if res, err := p.Wait(); err != nil || res.Skipped != 2 {
		t.Fatalf("Wait = %+v, %v; want the answer given", res, err)
	}
	if _, err := q.Await(context.Background(), "enqueue", make(chan Answer)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Await on a stopped queue without an answer = %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	open := Queue{Stopped: make(chan struct{}), Pkg: "test"}
	if _, err := open.Await(ctx, "enqueue", make(chan Answer)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await with an ended ctx = %v, want context.Canceled", err)
	}
	refused := errors.New("refused")
	r := Refused(refused)
	if _, err := r.Wait(); !r.Ready() || err != refused {
		t.Fatalf("Refused: Ready %v, Wait error %v", r.Ready(), err)
	}
}

// TestRefuseQueued: every request left in the queue is answered the error.
func TestRefuseQueued(t *testing.T) {
	reqs := make(chan chan Answer, 3)
	var all []chan Answer
	for range 3 {
		c := make(chan Answer, 1)
		reqs <- c
		all = append(all, c)
	}
	RefuseQueued(reqs, func(c chan Answer) chan<- Answer { return c }, ErrClosed)
	for i, c := range all {
		if a := <-c; !errors.Is(a.Err, ErrClosed) {
			t.Fatalf("request %d answered %v, want ErrClosed", i, a.Err)
		}
	}
}
