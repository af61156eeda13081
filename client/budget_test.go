//go:build !js

package client

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/server"
)

// freezeProxy is the 2025 freeze of TLS to foreign data centres as a real
// TCP proxy: each connection carries budget bytes from the server to the
// client, and then nothing more passes either way, with no reset and no
// close; the proxy keeps reading and dropping what the client sends.
type freezeProxy struct {
	ln     net.Listener
	budget int64
	pause  time.Duration // if set: at the budget, hold the flow this long, then go on

	mu       sync.Mutex
	conns    []net.Conn
	accepted []time.Time // when each connection came in
	froze    []time.Time // when a connection froze
	clean    int         // connections the client closed before they froze
}

func startFreezeProxy(t *testing.T, target string, budget int64) *freezeProxy {
	ln := testnet.Listen(t)
	p := &freezeProxy{ln: ln, budget: budget}
	testnet.Forward(t, ln, target, p.link)
	t.Cleanup(p.stop)
	return p
}

// stop closes the listener and every proxied connection.
func (p *freezeProxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// link carries one proxied connection until it freezes.
func (p *freezeProxy) link(in, out net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, in, out)
	p.accepted = append(p.accepted, time.Now())
	p.mu.Unlock()
	fc := &frozenFlow{pause: p.pause}
	go fc.pipe(out, in, -1, nil)
	if fc.pipe(in, out, p.budget, func() {
		p.mu.Lock()
		p.froze = append(p.froze, time.Now())
		p.mu.Unlock()
	}) {
		return
	}
	p.mu.Lock()
	p.clean++
	p.mu.Unlock()
}

// frozenFlow is one proxied connection; once frozen, no byte passes.
type frozenFlow struct {
	mu     sync.Mutex
	frozen bool
	pause  time.Duration
}

// pipe copies src to dst; with limit >= 0 it freezes the flow once limit
// bytes went through, calling onFreeze. It reports whether the flow froze.
func (f *frozenFlow) pipe(dst, src net.Conn, limit int64, onFreeze func()) bool {
	buf := make([]byte, 4<<10)
	var n64 int64
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		if n > 0 && !f.frozen {
			keep := n
			hold := false
			if limit >= 0 && n64+int64(n) > limit {
				keep = int(limit - n64)
				if f.pause > 0 {
					hold, limit = true, -1
				} else {
					f.frozen = true
					onFreeze()
				}
			}
			n64 += int64(keep)
			dst.Write(buf[:keep])
			if hold {
				time.Sleep(f.pause) // a slow path, not a frozen one
				dst.Write(buf[keep:n])
			}
		}
		frozen := f.frozen
		f.mu.Unlock()
		if err != nil {
			if !frozen {
				dst.Close() // a clean end passes on; a frozen flow never ends
			}
			return frozen
		}
	}
}

func (p *freezeProxy) counts() (accepted []time.Time, froze []time.Time, clean int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.accepted...), append([]time.Time(nil), p.froze...), p.clean
}

// freezeSetup starts a server whose only path for alice is relay-f behind
// a freeze proxy of budget bytes; bob talks to the server directly. It
// returns them befriended, and the proxy.
func freezeSetup(t *testing.T, budget int64, pause time.Duration) (alice, bob *Client, p *freezeProxy, aliceHome string) {
	return freezeSetupBlobs(t, budget, pause, nil)
}

// freezeSetupBlobs is freezeSetup with a blob store on the server.
func freezeSetupBlobs(t *testing.T, budget int64, pause time.Duration, blobs server.BlobStore) (alice, bob *Client, p *freezeProxy, aliceHome string) {
	srvLn, _ := net.Listen("tcp", "127.0.0.1:0")
	p = startFreezeProxy(t, srvLn.Addr().String(), budget)
	p.pause = pause
	sl := bookServerBlobs(t, srvLn, []reach.Entry{directEntry("relay-f", p.ln.Addr().String())}, blobs, "relay-f")
	aliceHome = filepath.Join(t.TempDir(), "alice")
	alice, err := Init(InitOptions{Options: userOptions(t, aliceHome, "alice"), Server: sl, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, alice)
	bob = newUser(t, ServerLink{Key: sl.Key, Addrs: []string{srvLn.Addr().String()}}, "bob", nil)
	befriend(t, alice, bob)
	return alice, bob, p, aliceHome
}

// exchange has a and b send n numbered texts each, every gap, and waits
// until each has received every text of the other exactly once.
func exchange(t *testing.T, a, b *Client, round string, n int, gap time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i := range n {
		for _, c := range []*Client{a, b} {
			to := b.Name()
			if c == b {
				to = a.Name()
			}
			if err := c.Send(ctx, to, fmt.Sprintf("%s %s %d", round, c.Name(), i)); err != nil {
				t.Fatalf("%s sending: %v", c.Name(), err)
			}
		}
		time.Sleep(gap)
	}
	for _, pair := range [][2]*Client{{a, b}, {b, a}} {
		rcv, from := pair[0], pair[1]
		seen := map[string]int{}
		for {
			clear(seen)
			ms, err := rcv.Messages(ctx, "", false)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.Kind == MessageText && !m.Out && m.From == from.Name() {
					seen[m.Text]++
				}
			}
			missing := 0
			for i := range n {
				if seen[fmt.Sprintf("%s %s %d", round, from.Name(), i)] == 0 {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s is missing %d of %d texts of round %s from %s", rcv.Name(), missing, n, round, from.Name())
			}
			time.Sleep(50 * time.Millisecond)
		}
		for text, k := range seen {
			if k != 1 {
				t.Errorf("%s has %q %d times", rcv.Name(), text, k)
			}
		}
	}
}

// freezeBudget is the proxy's per-connection budget in the tests: the 16 KB
// of the 2025 freeze reports.
const freezeBudget = 16 << 10

// TestAdversaryFreezeAfter16KB: alice's only path forwards 16 KB from the
// server per connection and then silently drops everything. While alice has
// requests in flight, a frozen connection must be replaced within about a
// second (a fresh connection accepted by the proxy within 2 s of each
// freeze), and every text must arrive exactly once.
func TestAdversaryFreezeAfter16KB(t *testing.T) {
	alice, bob, p, _ := freezeSetup(t, freezeBudget, 0)
	exchange(t, alice, bob, "r1", 50, 40*time.Millisecond)
	accepted, froze, _ := p.counts()
	if len(froze) == 0 {
		t.Fatalf("no connection froze over %d connections; the test proves nothing", len(accepted))
	}
	for _, f := range froze {
		var next time.Time
		for _, a := range accepted {
			if a.After(f) {
				next = a
				break
			}
		}
		if next.IsZero() {
			continue // the last freeze may come after the exchange ended
		}
		if d := next.Sub(f); d > 2*time.Second {
			t.Errorf("a connection froze and the next one came %v later; want under 2s", d.Round(time.Millisecond))
		} else {
			t.Logf("frozen connection replaced after %v", d.Round(time.Millisecond))
		}
	}
	t.Logf("%d connections, %d froze", len(accepted), len(froze))
}

// TestAdversaryFreezeLearnedBudget: once a connection froze on the path,
// the client knows the path's budget and moves to a fresh connection
// before reaching it: over several budgets' worth of traffic no further
// connection freezes, also after a restart (the budget is kept in the
// dialer memory in the local store).
func TestAdversaryFreezeLearnedBudget(t *testing.T) {
	alice, bob, p, home := freezeSetup(t, freezeBudget, 0)
	exchange(t, alice, bob, "learn", 40, 40*time.Millisecond)
	_, froze0, _ := p.counts()
	if len(froze0) == 0 {
		t.Fatal("no connection froze while learning; the test proves nothing")
	}
	time.Sleep(2 * time.Second) // let a freeze at the very end be noticed
	accepted1, froze1, _ := p.counts()
	exchange(t, alice, bob, "after", 60, 40*time.Millisecond)
	accepted2, froze2, clean := p.counts()
	t.Logf("learning: %d freezes; then %d connections, %d more freezes, %d closed cleanly in all",
		len(froze1), len(accepted2)-len(accepted1), len(froze2)-len(froze1), clean)
	if len(accepted2)-len(accepted1) < 2 {
		t.Errorf("only %d connections for the second round; want the client to rotate", len(accepted2)-len(accepted1))
	}
	if n := len(froze2) - len(froze1); n > 0 {
		t.Errorf("%d connections froze after the budget was learned; want none", n)
	}
	// After a restart the budget is still known.
	alice.Close()
	a2, err := Open(userOptions(t, home, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, a2)
	exchange(t, a2, bob, "restart", 40, 40*time.Millisecond)
	_, froze3, _ := p.counts()
	if n := len(froze3) - len(froze2); n > 0 {
		t.Errorf("%d connections froze after a restart; want the stored budget to prevent it", n)
	}
}

// TestAdversarySlowIsNotFrozen: a path that holds the server's bytes for
// 2 s once (a slow link, or a censor trying to teach the client a tiny
// budget so that it churns connections) makes the client hand over, but
// the held bytes arrive while the old connection lingers, so no budget is
// learned, and every text arrives exactly once.
func TestAdversarySlowIsNotFrozen(t *testing.T) {
	alice, bob, p, _ := freezeSetup(t, 8<<10, 2*time.Second)
	exchange(t, alice, bob, "slow", 30, 40*time.Millisecond)
	time.Sleep(3 * time.Second) // past the linger of a late handover
	accepted, froze, _ := p.counts()
	t.Logf("%d connections, %d froze", len(accepted), len(froze))
	if len(accepted) < 2 {
		t.Errorf("%d connections: the 2 s hold never made the client hand over; the test proves nothing", len(accepted))
	}
	if b, ok := alice.reach.racer.Memory().Budget(reach.LocalNetwork(), "relay-f", time.Now()); ok {
		t.Errorf("a budget %+v was learned from a path that was only slow", b)
	}
}
