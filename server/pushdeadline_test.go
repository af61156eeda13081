package server

import (
	"net"
	"testing"
	"time"
)

// TestPushToStalledSubscriberGivesUp: a channel push to a subscriber that
// has stopped reading returns within pushWriteTimeout and closes that
// session, instead of holding its fanout worker's slot for the whole WriteTimeout
// (a few such subscribers could otherwise stall every channel's fanout).
// net.Pipe has no buffer, so the push blocks at once, as a write to a full
// socket does.
func TestPushToStalledSubscriberGivesUp(t *testing.T) {
	s, key := newUnitServer(t)
	sc, _, serverEnd := securePair(t, key, net.Pipe)
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
