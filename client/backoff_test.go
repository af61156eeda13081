package client

import (
	"context"
	"testing"
	"time"
)

// TestBackoff: the wait doubles after each failure up to its cap, starts
// again after a success, and a sleep ends early, reporting false, when ctx
// ends.
func TestBackoff(t *testing.T) {
	b := newBackoff(350 * time.Millisecond)
	var seen []time.Duration
	for range 4 {
		seen = append(seen, b.next)
		if !b.sleep(context.Background(), time.Millisecond) { // a server's retry-after replaces the wait
			t.Fatal("sleep reported an ended ctx")
		}
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond, 350 * time.Millisecond}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("waits %v, want %v", seen, want)
		}
	}
	b.reset()
	if b.next != retryStart {
		t.Fatalf("after reset the wait is %v, want %v", b.next, retryStart)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if b.sleep(ctx, time.Hour) {
		t.Fatal("sleep with an ended ctx reported true")
	}
	if time.Since(start) > time.Second {
		t.Fatal("sleep with an ended ctx waited")
	}
}
