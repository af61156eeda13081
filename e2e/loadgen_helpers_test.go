package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
)

// loadSend is a running `samizdat bench send` (the load generator) and the
// files it writes: the MsgIDs the server acknowledged, one a line, and its
// JSON summary.
type loadSend struct {
	*proc
	ackedLog, resultPath string
}

// startLoadSend starts `bench send` from senders connections of perSender
// messages each at rate messages/s, to the device ids listed in idsPath,
// with its files under dir, and waits until it says it is sending.
func startLoadSend(t *testing.T, link, idsPath, dir string, senders, perSender int, rate float64, within time.Duration) *loadSend {
	t.Helper()
	s := &loadSend{ackedLog: filepath.Join(dir, "acked"), resultPath: filepath.Join(dir, "result.json")}
	s.proc = start(t, nil, "bench", "send", "--server", link, "--to", idsPath,
		"--senders", fmt.Sprint(senders), "--messages", fmt.Sprint(perSender), "--window", "4",
		"--rate", fmt.Sprint(rate), "--acked-log", s.ackedLog, "--json", s.resultPath)
	if !e2etest.WaitFor(within, func() bool { return strings.Contains(s.Stderr.String(), "sending") }) {
		t.Fatalf("bench send never started sending; stderr:\n%s", s.Stderr.String())
	}
	return s
}

// loadRecv is a running `samizdat bench recv`: recipients subscribed on
// one server, their device ids in idsPath (one a line) and every Deliver
// they get logged to log ("device seq msgid" lines, see readDeliveries).
type loadRecv struct {
	*proc
	idsPath, log string
}

// startLoadRecv starts `bench recv` with recipients on the server at link,
// its files under dir (ids+suffix, received+suffix), and waits until it
// has subscribed them (it writes the ids file then).
func startLoadRecv(t *testing.T, link, dir, suffix string, recipients int, within time.Duration) *loadRecv {
	t.Helper()
	r := &loadRecv{idsPath: filepath.Join(dir, "ids"+suffix), log: filepath.Join(dir, "received"+suffix)}
	r.proc = start(t, nil, "bench", "recv", "--server", link, "--recipients", fmt.Sprint(recipients), "--ids", r.idsPath, "--log", r.log)
	subscribed := func() bool { _, err := os.Stat(r.idsPath); return err == nil }
	e2etest.WaitFor(within, func() bool { return subscribed() || !r.Running() })
	if !subscribed() {
		t.Fatalf("bench recv on %s never subscribed; stderr:\n%s", link, r.Stderr.String())
	}
	return r
}

// loadResult is the JSON summary of `bench send`.
type loadResult struct{ Acked, Errors, Retries, Reconnects int64 }

// finish waits for the load generator to end and checks that all total
// messages were acknowledged without an error, each MsgID once in the
// acked log. It returns the summary and the acknowledged MsgIDs.
func (s *loadSend) finish(t *testing.T, within time.Duration, total int) (loadResult, map[string]bool) {
	t.Helper()
	if err := s.Wait(t, within); err != nil {
		t.Fatalf("bench send failed: %v\nstdout:\n%s\nstderr:\n%s", err, s.Stdout.String(), s.Stderr.String())
	}
	var res loadResult
	b, err := os.ReadFile(s.resultPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Acked != int64(total) || res.Errors != 0 {
		t.Fatalf("bench send: %d acknowledged, %d errors; want %d and 0", res.Acked, res.Errors, total)
	}
	acked := map[string]bool{}
	for _, id := range readLines(t, s.ackedLog) {
		if acked[id] {
			t.Fatalf("MsgID %s acknowledged twice by the load generator's log", id)
		}
		acked[id] = true
	}
	if len(acked) != total {
		t.Fatalf("acked log has %d ids, want %d", len(acked), total)
	}
	return res, acked
}

// delivery is where a `bench recv` log put a MsgID: which log (receiver),
// which device, which mailbox seq.
type delivery struct {
	log         int
	device, seq string
}

// readDeliveries parses the `bench recv` logs (lines "device seq msgid")
// into the deliveries of each MsgID.
func readDeliveries(t *testing.T, logs []string) map[string]map[delivery]bool {
	t.Helper()
	where := map[string]map[delivery]bool{}
	for li, path := range logs {
		for _, line := range readLines(t, path) {
			f := strings.Fields(line)
			if len(f) != 3 {
				t.Fatalf("bad receiver log line %q", line)
			}
			if where[f[2]] == nil {
				where[f[2]] = map[delivery]bool{}
			}
			where[f[2]][delivery{li, f[0], f[1]}] = true
		}
	}
	return where
}

// undelivered counts the acknowledged MsgIDs that no receiver has yet.
func undelivered(t *testing.T, logs []string, acked map[string]bool) int {
	t.Helper()
	where := readDeliveries(t, logs)
	n := 0
	for id := range acked {
		if where[id] == nil {
			n++
		}
	}
	return n
}

// checkExactlyOnce reads the receiver logs and checks that every delivered
// MsgID was acknowledged to its sender and sits in the mailboxes once, and
// that no mailbox entry carries two MsgIDs. It returns the deliveries.
func checkExactlyOnce(t *testing.T, logs []string, acked map[string]bool) map[string]map[delivery]bool {
	t.Helper()
	where := readDeliveries(t, logs)
	seqs := map[delivery]string{}
	for id, es := range where {
		if !acked[id] {
			t.Errorf("delivered MsgID %s was never acknowledged to its sender", id)
		}
		if len(es) != 1 {
			t.Errorf("MsgID %s is in the mailboxes %d times: %v", id, len(es), es)
		}
		for e := range es {
			if other, ok := seqs[e]; ok && other != id {
				t.Errorf("mailbox entry %v delivered as two messages: %s and %s", e, other, id)
			}
			seqs[e] = id
		}
	}
	return where
}
