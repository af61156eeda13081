package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

// runBenchRecv is the receiving side of the load generator (and of the
// crash test): it registers recipient devices, writes their ids, stays
// subscribed (reconnecting when the server goes away) and logs every
// Deliver as "device seq msgid" before acknowledging it, until SIGTERM.
func runBenchRecv(e env) int {
	fs := newFlags(e, "bench recv")
	linkS := fs.String("server", "", "the server link")
	n := fs.Int("recipients", 1, "recipient devices to register and subscribe")
	idsPath := fs.String("ids", "", "write the recipients' device ids here (hex, one a line) once they are subscribed")
	logPath := fs.String("log", "", "append one line per Deliver: device-index seq msgid-hex")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	link, err := client.ParseServerLink(*linkS)
	if err != nil {
		return fail(e, "bench recv", fmt.Errorf("--server: %w", err))
	}
	if *n < 1 || *idsPath == "" || *logPath == "" {
		return fail(e, "bench recv", errors.New("need --recipients >= 1, --ids FILE and --log FILE"))
	}
	logf, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fail(e, "bench recv", err)
	}
	defer logf.Close()
	ctx, cancel := signalContext()
	defer cancel()

	var logMu sync.Mutex
	rs := make([]*benchReceiver, *n)
	for i := range rs {
		rs[i] = &benchReceiver{index: i, link: link, dev: newBenchDevice(), ackCh: make(chan struct{}, 1)}
		rs[i].logLine = func(line string) {
			logMu.Lock()
			defer logMu.Unlock()
			logf.WriteString(line)
		}
	}
	ready := make(chan struct{}, *n)
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); r.run(ctx, e, ready) }()
	}
	for range rs {
		select {
		case <-ready:
		case <-ctx.Done():
			wg.Wait()
			return fail(e, "bench recv", errors.New("stopped before every recipient was subscribed"))
		}
	}
	var ids strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&ids, "%x\n", r.dev.id[:])
	}
	tmp := *idsPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(ids.String()), 0o644); err != nil {
		return fail(e, "bench recv", err)
	}
	if err := os.Rename(tmp, *idsPath); err != nil {
		return fail(e, "bench recv", err)
	}
	fmt.Fprintf(e.stderr, "bench recv: %d recipients subscribed\n", *n)
	wg.Wait()
	return 0
}

// benchReceiver is one recipient device.
type benchReceiver struct {
	index   int
	link    client.ServerLink
	dev     benchDevice
	logLine func(string)

	mu      sync.Mutex
	highest uint64 // highest seq logged, to acknowledge
	ackCh   chan struct{}
}

// run keeps r subscribed until ctx ends; it signals ready once, after the
// first successful Subscribe.
func (r *benchReceiver) run(ctx context.Context, e env, ready chan<- struct{}) {
	signalled := false
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		s, err := benchDialRegistered(ctx, r.link, r.dev, r.deliver)
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
			code, after := wireErrorCode(err)
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
