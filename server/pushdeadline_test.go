package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/store/sqlite"
)

// TestPushToStalledSubscriberGivesUp: a channel push to a subscriber that
// has stopped reading returns within pushWriteTimeout and closes that
// session, instead of holding its fanout worker's slot for the whole WriteTimeout
// (a few such subscribers could otherwise stall every channel's fanout).
// net.Pipe has no buffer, so the push blocks at once, as a write to a full
// socket does.
func TestPushToStalledSubscriberGivesUp(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: st, Key: key, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	scs, err := securechan.NewServer(securechan.ServerConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	clientEnd, serverEnd := net.Pipe()
	defer clientEnd.Close()
	_, dev, _ := ed25519.GenerateKey(rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan *securechan.Conn, 1)
	go func() {
		c, err := scs.Accept(ctx, serverEnd)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	if _, err := securechan.Client(ctx, clientEnd, securechan.ClientConfig{ServerPublic: key.Public(), DeviceKey: dev}); err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.FailNow()
	}
	// The client never reads again.
	ss := &session{srv: s, conn: serverEnd, sc: sc}
	sub := &channelSub{ss: ss}

	start := time.Now()
	if sub.send(make([]byte, 128)) {
		t.Fatal("a push to a subscriber that does not read reported success")
	}
	// The session's write timeout is a minute; the push must give up long
	// before (pushWriteTimeout, 2 s; 10 s leaves room for a busy machine).
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the push gave up after %v; want about %v, far less than the %v write timeout", took, pushWriteTimeout, s.cfg.WriteTimeout)
	}
	if !ss.closing.Load() {
		t.Fatal("the stalled subscriber's session was not closed")
	}
	if sub.send(make([]byte, 128)) {
		t.Fatal("a push after the session closed reported success")
	}
}
