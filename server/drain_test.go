package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// TestDrain: shutting down while clients send loses nothing that was
// acknowledged; every session is told Unavailable (or sees its close), and
// Serve returns.
func TestDrain(t *testing.T) {
	ts := startServer(t, nil)
	bob := newIdentity(newAccount())
	connect(t, ts, bob)
	var mu sync.Mutex
	acked := map[wire.MsgID]bool{}
	var wg sync.WaitGroup
	for range 4 {
		c := connect(t, ts, newIdentity(newAccount()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				s := app(fmt.Sprint(i), bob.deviceID())
				r, err := c.tryCall(s)
				if err != nil {
					return
				}
				if _, ok := r.(*wire.Ack); ok {
					mu.Lock()
					acked[s.MsgID] = true
					mu.Unlock()
					continue
				}
				if e, ok := r.(*wire.Error); !ok || e.Code != wire.CodeUnavailable {
					t.Errorf("during drain: %v", r)
				}
				return
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	ts.stop(t)
	wg.Wait()
	pending, err := ts.store.Pending(t.Context(), store.DeviceID(bob.deviceID()), 0, store.MaxPendingLimit)
	if err != nil {
		t.Fatal(err)
	}
	have := map[wire.MsgID]bool{}
	for _, e := range pending {
		have[wire.MsgID(e.MsgID)] = true
	}
	for id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged message %x is not in the mailbox", id[:4])
		}
	}
	if len(acked) == 0 {
		t.Fatal("nothing was sent")
	}
	t.Logf("%d acknowledged before the drain, all durable", len(acked))
}

// TestMetricsExposition: the admin endpoint's text has the counters the
// operator needs, in the Prometheus format.
func TestMetricsExposition(t *testing.T) {
	ts := startServer(t, nil)
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca := connect(t, ts, alice)
	connect(t, ts, bob)
	ca.must(app("m", bob.deviceID()), wire.TypeAck)
	ca.must(&wire.Ping{}, wire.TypePong) // the Ack's counter is updated by now
	var b strings.Builder
	ts.metrics.WriteTo(&b)
	text := b.String()
	for _, want := range []string{
		"# TYPE samizdat_connections_total counter\nsamizdat_connections_total 2\n",
		"samizdat_sends_acked_total 1\n",
		`samizdat_frames_received_total{type="Send"} 1`,
		`samizdat_frames_sent_total{type="Ack"} 1`,
		`samizdat_store_enqueue_seconds_bucket{le="+Inf"} 1`,
		"samizdat_store_enqueue_seconds_count 1\n",
		"# TYPE samizdat_store_batch_size histogram",
		"samizdat_sessions_open 2\n",
		"samizdat_replay_cache_entries 2\n",
		"samizdat_handshake_retries_total 0\n",
		"samizdat_refused_total 0\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
