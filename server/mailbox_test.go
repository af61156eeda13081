package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// TestOfflineThenSubscribe: messages sent to an offline device wait in its
// mailbox and arrive in order on Subscribe, then live ones follow; an
// AckDelivery deletes what it covers, so a reconnect gets only the rest.
func TestOfflineThenSubscribe(t *testing.T) {
	ts := startServer(t, nil)
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca := connect(t, ts, alice)
	cb := connect(t, ts, bob)
	cb.sc.Close() // Bob goes offline

	const n = 40
	var ids []wire.MsgID
	for i := range n {
		s := app(fmt.Sprintf("m%d", i), bob.deviceID())
		ids = append(ids, s.MsgID)
		if a := ca.must(s, wire.TypeAck).(*wire.Ack); a.MsgID != s.MsgID {
			t.Fatalf("Ack for another MsgID")
		}
	}
	cb = dial(t, ts, bob)
	cb.hello()
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	var last uint64
	for i := range n {
		d := cb.next()
		if d.MsgID != ids[i] || string(d.Payload) != fmt.Sprintf("m%d", i) || d.Seq <= last {
			t.Fatalf("delivery %d: seq %d (after %d), payload %q", i, d.Seq, last, d.Payload)
		}
		last = d.Seq
		if i == 24 {
			cb.must(&wire.AckDelivery{UpToSeq: d.Seq}, wire.TypeOK)
		}
	}
	cb.none()
	// Live: sent while Bob is subscribed.
	s := app("live", bob.deviceID())
	ca.must(s, wire.TypeAck)
	if d := cb.next(); d.MsgID != s.MsgID || d.Seq <= last {
		t.Fatalf("live delivery seq %d msg %x", d.Seq, d.MsgID[:4])
	}

	// The acknowledged 25 are gone from the store; the rest come again.
	pending, err := ts.store.Pending(t.Context(), store.DeviceID(bob.deviceID()), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != n-25+1 {
		t.Fatalf("%d entries left after acking 25 of %d", len(pending), n+1)
	}
	cb.sc.Close()
	cb = dial(t, ts, bob)
	cb.hello()
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	for i := 25; i < n; i++ {
		if d := cb.next(); d.MsgID != ids[i] {
			t.Fatalf("redelivery %d is another message", i)
		}
	}
	d := cb.next()
	cb.must(&wire.AckDelivery{UpToSeq: d.Seq}, wire.TypeOK)
	cb.none()
	if pending, _ := ts.store.Pending(t.Context(), store.DeviceID(bob.deviceID()), 0, 1000); len(pending) != 0 {
		t.Fatalf("%d entries left after acking all", len(pending))
	}
}

// TestIdempotentRetry: a Send retried with the same MsgID is acknowledged
// again and delivered once.
func TestIdempotentRetry(t *testing.T) {
	ts := startServer(t, nil)
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca := connect(t, ts, alice)
	cb := connect(t, ts, bob)
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	s := app("once", bob.deviceID())
	ca.must(s, wire.TypeAck)
	ca.sc.Close() // the Ack "was lost": reconnect and retry
	ca = dial(t, ts, alice)
	ca.hello()
	for range 3 {
		ca.must(s, wire.TypeAck)
	}
	if d := cb.next(); d.MsgID != s.MsgID {
		t.Fatal("wrong message")
	}
	cb.none()
	if got := ts.metrics.SendsDuplicate.Load(); got != 3 {
		t.Errorf("%d duplicates counted, want 3", got)
	}
}

// TestConcurrentCommits: of several commits for the same epoch of a group,
// sent at once from different sessions, exactly one wins; the others get
// StaleEpoch with the new current epoch, and only the winner is delivered.
func TestConcurrentCommits(t *testing.T) {
	ts := startServer(t, nil)
	watcher := newIdentity(newAccount())
	cw := connect(t, ts, watcher)
	cw.must(&wire.Subscribe{}, wire.TypeOK)
	g := group()
	first := &wire.Send{MsgID: msgID(), Group: g, Epoch: 0, Kind: wire.KindCommit, Recipients: []wire.DeviceID{watcher.deviceID()}, Payload: []byte("c0")}
	c0 := connect(t, ts, newIdentity(newAccount()))
	c0.must(first, wire.TypeAck)
	cw.next()

	const racers = 6
	var wg sync.WaitGroup
	results := make([]wire.Message, racers)
	sends := make([]*wire.Send, racers)
	clients := make([]*client, racers)
	for i := range racers {
		clients[i] = connect(t, ts, newIdentity(newAccount()))
		sends[i] = &wire.Send{MsgID: msgID(), Group: g, Epoch: 1, Kind: wire.KindCommit,
			Recipients: []wire.DeviceID{watcher.deviceID()}, Payload: []byte(fmt.Sprintf("c1-%d", i))}
	}
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := clients[i].tryCall(sends[i])
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, r := range results {
		switch r := r.(type) {
		case *wire.Ack:
			if winner >= 0 {
				t.Fatalf("two commits for epoch 1 won: %d and %d", winner, i)
			}
			winner = i
		case *wire.Error:
			if r.Code != wire.CodeStaleEpoch || r.CurrentEpoch != 2 {
				t.Fatalf("loser %d got %v (current %d), want StaleEpoch at 2", i, r.Code, r.CurrentEpoch)
			}
		default:
			t.Fatalf("racer %d got %v", i, r)
		}
	}
	if winner < 0 {
		t.Fatal("no commit won")
	}
	if d := cw.next(); d.MsgID != sends[winner].MsgID || d.Epoch != 1 || d.Kind != wire.KindCommit {
		t.Fatal("the delivered commit is not the winner")
	}
	cw.none()
	// The winner's retry is acknowledged, not refused as stale (6.4).
	clients[winner].must(sends[winner], wire.TypeAck)
	if got := ts.metrics.StaleEpoch.Load(); got != racers-1 {
		t.Errorf("stale-epoch counter %d, want %d", got, racers-1)
	}
	// Application messages are not ordered: any epoch is delivered.
	c0.must(&wire.Send{MsgID: msgID(), Group: g, Epoch: 0, Kind: wire.KindApplication, Recipients: []wire.DeviceID{watcher.deviceID()}, Payload: []byte("late")}, wire.TypeAck)
	cw.next()
}

// TestSubscriptionTakeover: a second session of the same device that
// subscribes takes over; the first gets a connection-level Conflict.
func TestSubscriptionTakeover(t *testing.T) {
	ts := startServer(t, nil)
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca := connect(t, ts, alice)
	old := connect(t, ts, bob)
	old.must(&wire.Subscribe{}, wire.TypeOK)
	nw := dial(t, ts, bob)
	nw.hello()
	nw.must(&wire.Subscribe{}, wire.TypeOK)
	select {
	case e := <-old.connErr:
		if e.Code != wire.CodeConflict {
			t.Fatalf("old session got %v", e.Code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("old session was not told")
	}
	<-old.closed
	s := app("to the new one", bob.deviceID())
	ca.must(s, wire.TypeAck)
	if d := nw.next(); d.MsgID != s.MsgID {
		t.Fatal("wrong message")
	}
}

// TestPushWindow: with a window of 4, at most 4 pushes are outstanding;
// each AckDelivery lets more through, and all arrive in order.
func TestPushWindow(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.PushWindow = 4 })
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca, cb := connect(t, ts, alice), connect(t, ts, bob)
	for i := range 10 {
		ca.must(app(fmt.Sprint(i), bob.deviceID()), wire.TypeAck)
	}
	cb.must(&wire.Subscribe{}, wire.TypeOK)
	got := 0
	for got < 10 {
		var last uint64
		for range min(4, 10-got) {
			d := cb.next()
			if string(d.Payload) != fmt.Sprint(got) {
				t.Fatalf("delivery %d has payload %q", got, d.Payload)
			}
			last = d.Seq
			got++
		}
		if got < 10 {
			cb.none()
		}
		cb.must(&wire.AckDelivery{UpToSeq: last}, wire.TypeOK)
	}
}

// TestRateLimits: a device over its request bucket gets RateLimited with a
// RetryAfter, keeps its session, and is served again once tokens return;
// an address over its connection bucket is refused before the handshake.
func TestRateLimits(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ts := startServer(t, func(c *server.Config) {
		c.Now = clock
		c.RateLimits = server.RateLimits{
			RequestsPerDevice: server.Rate{PerSecond: 0.5, Burst: 5},
			ClaimsPerDevice:   server.Rate{PerSecond: 0.1, Burst: 1},
			ConnectionsPerIP:  server.Rate{PerSecond: 0.001, Burst: 4},
		}
	})
	alice := newIdentity(newAccount())
	ca := connect(t, ts, alice) // hello (free) + register: 1 token
	for range 4 {
		ca.must(&wire.Ping{}, wire.TypePong)
	}
	e := ca.wantError(&wire.Ping{}, wire.CodeRateLimited)
	if e.RetryAfter != 2 {
		t.Errorf("RetryAfter %d, want 2 (one token at 0.5/s)", e.RetryAfter)
	}
	advance(2 * time.Second)
	ca.must(&wire.Ping{}, wire.TypePong)
	ca.wantError(&wire.Ping{}, wire.CodeRateLimited)

	advance(time.Minute)
	ca.wantError(&wire.ClaimKeyPackages{AccountKey: alice.accountKey()}, wire.CodeNotFound)
	e = ca.wantError(&wire.ClaimKeyPackages{AccountKey: alice.accountKey()}, wire.CodeRateLimited)
	if e.RetryAfter != 10 {
		t.Errorf("claim RetryAfter %d, want 10", e.RetryAfter)
	}

	// Four connections were allowed from 127.0.0.1; the fifth is refused.
	for range 3 {
		dial(t, ts, newIdentity(newAccount()))
	}
	if _, err := tryDial(ts, newIdentity(newAccount())); err == nil {
		t.Fatal("a fifth connection from the same address got through")
	}
	if ts.metrics.RateLimited.Load() < 4 {
		t.Errorf("rate-limited counter %d", ts.metrics.RateLimited.Load())
	}
}
