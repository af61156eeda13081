package reach

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/transport"
)

// TestKeeperShortSessionsDemoteThenBackOff: a path that reaches the right
// server but whose sessions die at once (a censor cutting live flows) is not
// backed off after one short session — it is tried again straight away —
// but three short sessions in a row do back it off.
func TestKeeperShortSessionsDemoteThenBackOff(t *testing.T) {
	var accepted atomic.Int32
	addr := testnet.ServeTCP(t, func(c net.Conn) {
		accepted.Add(1)
		fmt.Fprintln(c, "HELLO")
		c.Close() // the session ends at once
	})
	cs := []Candidate{{ID: "cut", Kind: KindRelay, Label: "C", Spec: transport.Spec{Name: "direct", Addr: addr}}}
	racer := NewRacer(RacerConfig{Factory: tcpFactory, Stagger: 10 * time.Millisecond,
		Backoff: Backoff{Base: time.Hour, Max: time.Hour}})
	k := NewKeeper(KeeperConfig{
		Racer:      racer,
		Network:    func() string { return "lab" },
		Candidates: func() []Candidate { return cs },
		Session:    lineSession,
		MinHealthy: time.Minute,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(5 * time.Second)
	for racer.Memory().Failures("lab", "cut") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := racer.Memory().Failures("lab", "cut"); got != 1 {
		t.Fatalf("failures = %d after the short sessions, want 1", got)
	}
	if n := accepted.Load(); n != maxShortSessions {
		t.Fatalf("%d sessions before the backoff, want %d (one short session must not back the path off)", n, maxShortSessions)
	}
	time.Sleep(100 * time.Millisecond)
	if n := accepted.Load(); n != maxShortSessions {
		t.Fatalf("%d sessions: the path was tried again while backed off", n)
	}
}
