package e2e

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
)

// TestCrashExactlyOnce is the crash proof: while a load-generator
// process streams Sends (each retried with the same MsgID until the server
// acknowledges it, as clients do), the server is killed with SIGKILL and
// restarted on the same data directory and port, several times. Afterwards
// every acknowledged message has been delivered to its recipient, and no
// message sits in a mailbox twice: the receiver process logs every Deliver
// with its mailbox seq, and each MsgID appears under exactly one seq (a
// redelivery of the same unacknowledged seq after a reconnect is the
// protocol working, not a duplicate).
func TestCrashExactlyOnce(t *testing.T) {
	senders, perSender, rate, cycles := 4, 250, 40.0, 3
	if *long {
		senders, perSender, cycles = 8, 600, 10
	}
	dir, srv := tempServer(t)
	recv := startLoadRecv(t, srv.link, dir, "", 3, 20*time.Second)
	// The rate keeps the stream under the real server's per-address rate
	// limits (DefaultRateLimits), so that it lasts through the kills.
	send := startLoadSend(t, srv.link, recv.idsPath, dir, senders, perSender, rate, 20*time.Second)
	for i := range cycles {
		time.Sleep(time.Duration(600+rand.IntN(700)) * time.Millisecond)
		if !send.Running() {
			t.Fatalf("the stream of sends ended before kill %d; raise the message count", i+1)
		}
		srv.Kill()
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		srv = srv.restart(t)
	}
	total := senders * perSender
	res, acked := send.finish(t, 120*time.Second, total)
	// Every kill must have cut the senders' sessions mid-stream (a Send in
	// flight at that instant is retried too, but at this rate whether one
	// is in flight is chance, so retries are reported, not required).
	if res.Reconnects < int64(cycles) {
		t.Fatalf("%d reconnects for %d kills: the kills did not hit the stream of sends", res.Reconnects, cycles)
	}

	// Wait until the receiver has every acknowledged message.
	logs := []string{recv.log}
	if !e2etest.WaitFor(60*time.Second, func() bool { return undelivered(t, logs, acked) == 0 }) {
		missing := undelivered(t, logs, acked)
		t.Fatalf("%d of %d acknowledged messages never delivered (lost); receiver stderr:\n%s", missing, total, recv.Stderr.String())
	}
	// Give late duplicates a chance to show up, then stop the receiver.
	time.Sleep(time.Second)
	recv.Stop(t, 15*time.Second)
	where := checkExactlyOnce(t, logs, acked)
	t.Logf("%d messages, %d kill cycles, %d reconnects, %d Sends retried, %d delivered exactly once", total, cycles, res.Reconnects, res.Retries, len(where))
}
