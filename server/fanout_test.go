package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
	"github.com/samizdat-project/samizdat/wire"
)

// newUnitServer is a server, not serving, on a real store, with a write
// timeout of a minute, for tests that drive its sessions by hand.
func newUnitServer(t *testing.T) (*Server, *securechan.ServerKey) {
	t.Helper()
	st := sqlitetest.Open(t)
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Key: key, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

// securePair returns a server-side secure channel and its client end over
// conns made by pipe.
func securePair(t *testing.T, key *securechan.ServerKey, pipe func() (net.Conn, net.Conn)) (*securechan.Conn, *securechan.Conn, net.Conn) {
	t.Helper()
	scs, err := securechan.NewServer(securechan.ServerConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	clientEnd, serverEnd := pipe()
	t.Cleanup(func() { clientEnd.Close(); serverEnd.Close() })
	_, dev, _ := ed25519.GenerateKey(rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	accepted := make(chan *securechan.Conn, 1)
	go func() {
		c, err := scs.Accept(ctx, serverEnd)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	cc, err := securechan.Client(ctx, clientEnd, securechan.ClientConfig{ServerPublic: key.Public(), DeviceKey: dev})
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.FailNow()
	}
	return sc, cc, serverEnd
}

func tcpPair(t *testing.T) func() (net.Conn, net.Conn) {
	return func() (net.Conn, net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		acc := make(chan net.Conn, 1)
		go func() { c, _ := ln.Accept(); acc <- c }()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s := <-acc
		if s == nil {
			t.Fatal("accept failed")
		}
		return c, s
	}
}

// readPosts hands each post of the channel pushes that arrive on cc to
// got, in order, until the connection ends.
func readPosts(t *testing.T, cc *securechan.Conn, got func(post []byte)) {
	for {
		b, err := cc.Recv()
		if err != nil {
			return
		}
		f, err := wire.Decode(b)
		if err != nil {
			t.Errorf("decoding a push: %v", err)
			return
		}
		push, ok := f.Msg.(*wire.ChannelPush)
		if !ok {
			t.Errorf("got a %T, want a ChannelPush", f.Msg)
			return
		}
		for _, p := range push.Posts {
			got(p)
		}
	}
}

// TestFanoutRoundsPassAStalledSubscriber: one subscriber of a channel stops
// reading (net.Pipe has no buffer, like a full socket). Every subscriber
// outside its chunk gets the first post and then two more, posted after
// the push to the stalled one began, while that push still waits for its
// deadline: rounds do not wait for a stuck worker. Then its session is
// closed, and the subscribers after it in its chunk get every post too,
// in order.
func TestFanoutRoundsPassAStalledSubscriber(t *testing.T) {
	s, key := newUnitServer(t)
	lc := &liveChannel{id: wire.ChannelID{1}}
	const n = 3 * fanoutChunk
	const posts = 3
	var got [n]atomic.Int64 // posts received by subscriber i, in seq order
	var stalledSS *session
	for i := range n {
		pipe := tcpPair(t)
		if i == 0 {
			pipe = net.Pipe
		}
		sc, cc, serverEnd := securePair(t, key, pipe)
		ss := &session{srv: s, conn: serverEnd, sc: sc}
		if i == 0 {
			stalledSS = ss // its client never reads
		} else {
			go readPosts(t, cc, func(p []byte) {
				if want := got[i].Load() + 1; p[0] != byte(want) {
					t.Errorf("subscriber %d got post %d, want %d", i, p[0], want)
				}
				got[i].Add(1)
			})
		}
		lc.addSub(&channelSub{ss: ss, lc: lc, idx: -1})
	}
	all := func(from, to int, want int64) bool {
		for i := from; i < to; i++ {
			if got[i].Load() != want {
				return false
			}
		}
		return true
	}
	// The first post's round leaves a worker stuck on subscriber 0; the
	// next posts' rounds must not wait for it.
	lc.publish(1, []byte{1, 'p'})
	start := time.Now()
	for !all(fanoutChunk, n, 1) {
		if stalledSS.closing.Load() {
			t.Fatalf("the stalled push gave up (after %v) before the other chunks' subscribers had the first post", time.Since(start))
		}
		time.Sleep(time.Millisecond)
	}
	for seq := uint64(2); seq <= posts; seq++ {
		lc.publish(seq, []byte{byte(seq), 'p'})
	}
	for !all(fanoutChunk, n, posts) {
		if stalledSS.closing.Load() {
			t.Fatalf("the stalled push gave up (after %v) before the other chunks' subscribers had every post", time.Since(start))
		}
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !all(1, n, posts) || !stalledSS.closing.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: stalled session closed %v; posts received %v", stalledSS.closing.Load(), &got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFanoutUnderChurn: posts arrive while other subscriptions come and go
// on the same channel. Every steady subscriber gets every post exactly
// once, in order; a subscriber that comes and goes sees only increasing
// seqs. (Run it with -race: the rounds, the list and the cursors are
// shared between goroutines.)
func TestFanoutUnderChurn(t *testing.T) {
	s, key := newUnitServer(t)
	lc := &liveChannel{id: wire.ChannelID{2}}
	const steady, churning, posts = 40, 8, 300
	type reader struct {
		ss   *session
		got  atomic.Int64 // posts received
		last atomic.Int64 // highest seq received
	}
	readers := make([]*reader, steady+churning)
	churned := map[int]*channelSub{} // a session has one subscription to a channel at a time
	for i := range readers {
		sc, cc, serverEnd := securePair(t, key, tcpPair(t))
		r := &reader{ss: &session{srv: s, conn: serverEnd, sc: sc}}
		readers[i] = r
		go readPosts(t, cc, func(p []byte) {
			seq := int64(p[0])<<8 | int64(p[1])
			if last := r.last.Load(); seq <= last || (i < steady && seq != last+1) {
				t.Errorf("reader %d got seq %d after %d", i, seq, last)
			}
			r.last.Store(seq)
			r.got.Add(1)
		})
		sub := &channelSub{ss: r.ss, lc: lc, idx: -1}
		if i >= steady {
			churned[i] = sub
		}
		lc.addSub(sub)
	}
	done := make(chan struct{})
	go func() { // churn: the last subscribers leave and come back
		defer close(done)
		subs := churned
		for round := 0; round < 200; round++ {
			i := steady + round%churning
			if sub := subs[i]; sub != nil {
				sub.end()
				delete(subs, i)
			} else {
				lc.mu.RLock()
				sub := &channelSub{ss: readers[i].ss, lc: lc, cursor: lc.lastSeq, idx: -1}
				lc.mu.RUnlock()
				lc.addSub(sub)
				subs[i] = sub
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	for seq := uint64(1); seq <= posts; seq++ {
		lc.publish(seq, []byte{byte(seq >> 8), byte(seq), 'p'})
		if seq%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	deadline := time.Now().Add(30 * time.Second)
	for i := range steady {
		for readers[i].got.Load() < posts {
			if time.Now().After(deadline) {
				t.Fatalf("steady reader %d has %d of %d posts after 30 s", i, readers[i].got.Load(), posts)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond) // no duplicates arrive late
	for i := range steady {
		if got := readers[i].got.Load(); got != posts {
			t.Errorf("steady reader %d got %d posts; want %d", i, got, posts)
		}
	}
	lc.subMu.Lock()
	n := len(lc.subs)
	for i, sub := range lc.subs {
		if sub.idx != i {
			t.Errorf("subscriber at %d says it is at %d", i, sub.idx)
		}
	}
	lc.subMu.Unlock()
	if n < steady || n > steady+churning {
		t.Errorf("%d subscribers on the list; want %d to %d", n, steady, steady+churning)
	}
}
