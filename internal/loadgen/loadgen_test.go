package loadgen

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/server/servertest"
)

// startServer runs a real server (rate limits off, as 'bench server')
// until the test ends.
func startServer(t *testing.T) client.ServerLink {
	l := servertest.Start(t, nil).Link
	return client.ServerLink{Key: l.Key, Addrs: l.Addrs}
}

// TestSendReachesReceivers: receivers subscribe and write their ids;
// senders, paced one at a time and pipelined, send to those ids; every
// acknowledged MsgID is in the acked log and reaches a receiver's log.
func TestSendReachesReceivers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	link := startServer(t)
	var mu sync.Mutex
	var delivered strings.Builder
	rs := StartReceivers(ctx, link, 3, func(line string) { mu.Lock(); delivered.WriteString(line); mu.Unlock() })
	defer func() { cancel(); rs.Wait() }()
	if err := rs.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	idsFile := filepath.Join(t.TempDir(), "ids")
	if err := os.WriteFile(idsFile, []byte(rs.IDs()), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := ReadDeviceIDs(idsFile)
	if err != nil || len(ids) != 3 {
		t.Fatalf("ReadDeviceIDs = %d ids, %v", len(ids), err)
	}
	var acked strings.Builder
	for _, window := range []int{1, 4} { // one at a time, then pipelined
		cfg := SendConfig{Link: link, Senders: 2, Messages: 15, Size: 64, Window: window, Recipients: ids, AckedLog: &acked}
		res, err := Send(ctx, cfg, time.Now())
		if err != nil {
			t.Fatalf("window %d: %v", window, err)
		}
		if res.Acked != 30 || res.Errors != 0 || res.SendsPerSec <= 0 || res.P50Ms <= 0 || res.MaxMs < res.P99Ms {
			t.Fatalf("window %d: %+v", window, res)
		}
	}
	want := strings.Fields(acked.String())
	if len(want) != 60 {
		t.Fatalf("acked log has %d MsgIDs, want 60", len(want))
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range want {
		for {
			mu.Lock()
			got := strings.Contains(delivered.String(), " "+id+"\n")
			mu.Unlock()
			if got {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("acknowledged MsgID %s never reached a receiver", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestAdversarySendConfigRefused: numbers a run cannot honour are refused
// before anything connects (a payload over the protocol's limit would be
// refused by the server for every message).
func TestAdversarySendConfigRefused(t *testing.T) {
	for _, cfg := range []SendConfig{
		{Senders: 0, Size: 1, Window: 1, Messages: 1},
		{Senders: 1, Size: 1 << 30, Window: 1, Messages: 1},
		{Senders: 1, Size: 1, Window: 0, Messages: 1},
		{Senders: 1, Size: 1, Window: 1, Messages: 0},
	} {
		if _, err := Send(context.Background(), cfg, time.Now()); err == nil {
			t.Errorf("Send accepted %+v", cfg)
		}
	}
}

// TestIdleMeasuresThisProcess opens idle sessions to a server in this
// process and reads this process's memory.
func TestIdleMeasuresThisProcess(t *testing.T) {
	link := startServer(t)
	res, err := Idle(context.Background(), link, 20, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions != 20 || res.BaseSessions != 2 || res.RSSBeforeKiB <= 0 || res.RSSAfterKiB <= 0 {
		t.Fatalf("%+v", res)
	}
	if _, err := Idle(context.Background(), link, 1, 0); err == nil {
		t.Fatal("Idle without a process id ran")
	}
}

func TestParseRates(t *testing.T) {
	if r, err := ParseRates("5, 20,50"); err != nil || len(r) != 3 || r[1] != 20 {
		t.Fatalf("ParseRates = %v, %v", r, err)
	}
	for _, bad := range []string{"", "5,,6", "0", "-1", "x"} {
		if _, err := ParseRates(bad); err == nil {
			t.Errorf("ParseRates(%q) accepted", bad)
		}
	}
}
