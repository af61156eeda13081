package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

// Receivers are recipient devices that stay subscribed (reconnecting when
// the server goes away) and log every Deliver as "device seq msgid-hex"
// before acknowledging it: the receiving side of the load generator and
// the crash test's witness.
type Receivers struct {
	rs    []*benchReceiver
	ready chan struct{}
	wg    sync.WaitGroup
}

// StartReceivers registers n recipient devices on the server of link and
// keeps them subscribed until ctx ends; logLine gets every log line (from
// many goroutines: it must be safe for concurrent use).
func StartReceivers(ctx context.Context, link client.ServerLink, n int, logLine func(string)) *Receivers {
	r := &Receivers{rs: make([]*benchReceiver, n), ready: make(chan struct{}, n)}
	for i := range r.rs {
		r.rs[i] = &benchReceiver{index: i, link: link, dev: NewDevice(), ackCh: make(chan struct{}, 1), logLine: logLine}
	}
	for _, br := range r.rs {
		r.wg.Go(func() { br.run(ctx, r.ready) })
	}
	return r
}

// Ready waits until every receiver subscribed once.
func (r *Receivers) Ready(ctx context.Context) error {
	for range r.rs {
		select {
		case <-r.ready:
		case <-ctx.Done():
			return errors.New("loadgen: stopped before every recipient was subscribed")
		}
	}
	return nil
}

// IDs are the receivers' device ids, hex, one a line (what ReadDeviceIDs
// reads).
func (r *Receivers) IDs() string {
	var ids strings.Builder
	for _, br := range r.rs {
		fmt.Fprintf(&ids, "%x\n", br.dev.id[:])
	}
	return ids.String()
}

// Wait waits until every receiver stopped (after ctx ended).
func (r *Receivers) Wait() { r.wg.Wait() }

// benchReceiver is one recipient device.
type benchReceiver struct {
	index   int
	link    client.ServerLink
	dev     Device
	logLine func(string)

	mu      sync.Mutex
	highest uint64 // highest seq logged, to acknowledge
	ackCh   chan struct{}
}

// run keeps r subscribed until ctx ends; it signals ready once, after the
// first successful Subscribe.
func (r *benchReceiver) run(ctx context.Context, ready chan<- struct{}) {
	signalled := false
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		s, err := dialRegistered(ctx, r.link, r.dev, r.deliver, nil)
		if err == nil {
			_, err = s.Call(ctx, &wire.Subscribe{})
			if err != nil {
				s.End(err)
			}
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		if !signalled {
			ready <- struct{}{}
			signalled = true
		}
		r.ackLoop(ctx, s)
		s.End(errors.New("reconnecting"))
	}
}

// deliver logs d (every time it comes: a redelivery after a reconnect is
// logged again with its seq, so the checker can tell a redelivered entry
// from a duplicate one) and asks for an acknowledgement.
func (r *benchReceiver) deliver(d *wire.Deliver) {
	r.logLine(fmt.Sprintf("%d %d %x\n", r.index, d.Seq, d.MsgID[:]))
	r.mu.Lock()
	if d.Seq > r.highest {
		r.highest = d.Seq
	}
	r.mu.Unlock()
	select {
	case r.ackCh <- struct{}{}:
	default:
	}
}

// ackLoop sends AckDelivery for what was logged until s dies or ctx ends.
func (r *benchReceiver) ackLoop(ctx context.Context, s *client.Session) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.Done():
			return
		case <-r.ackCh:
		}
		r.mu.Lock()
		up := r.highest
		r.mu.Unlock()
		if up == 0 {
			continue
		}
		if _, err := s.Call(ctx, &wire.AckDelivery{UpToSeq: up}); err != nil {
			code, after := errorCode(err)
			if !retryable(code) {
				return
			}
			select { // rate limited (a real server sees one busy address): retry
			case <-ctx.Done():
				return
			case <-time.After(max(time.Duration(after)*time.Second, 50*time.Millisecond)):
			}
			select {
			case r.ackCh <- struct{}{}:
			default:
			}
		}
	}
}
