package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestSendQueuesWhenServerDown: with the server down, `send` to an
// existing chat returns at once, saying the message is queued; it goes out
// on the next connection and arrives once.
func TestSendQueuesWhenServerDown(t *testing.T) {
	dir, srv := tempServer(t)
	alice, bob := twoFriends(t, dir, srv.link)
	mustContain(t, "first send", bob.run(t, "send", "alice", "first"), "Sent to alice")
	srv.Kill()
	start := time.Now()
	out, errOut, err := bob.tryEnv([]string{"SAMIZDAT_CONNECT_TIMEOUT=2s"}, "send", "alice", "while the server is down")
	if err != nil || !strings.Contains(out, "Queued for alice") {
		t.Fatalf("send with the server down: %v\n%s%s", err, out, errOut)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("queueing took %v", d)
	}
	mustContain(t, "outbox", bob.run(t, "outbox"), "waiting")
	srv.restart(t)
	bob.run(t, "read") // connects: the outbox goes out
	mustContain(t, "outbox after", bob.run(t, "outbox"), "The outbox is empty")
	hist := alice.run(t, "read", "bob")
	if n := strings.Count(hist, "while the server is down"); n != 1 {
		t.Fatalf("alice has the queued message %d times:\n%s", n, hist)
	}
}
