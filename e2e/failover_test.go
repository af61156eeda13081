package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/cli"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/wire"
)

// senderEnv makes the test binary run the failover sender instead of the
// tests: a process that uses the client library with the CLI's transports
// (the CLI has no command that streams messages).
const senderEnv = "SAMIZDAT_E2E_FAILOVER_SENDER"

func init() {
	if os.Getenv(senderEnv) != "" {
		os.Exit(failoverSender())
	}
}

// failoverSender sends "msg N" to bob every E2E_EVERY until the file
// E2E_STOP exists, then waits until every message is acknowledged. It
// logs to E2E_LOG: "path <unixnano> up|down <path>", "queued N",
// "acked N <unixnano>", and finally "done N".
func failoverSender() int {
	logf, err := os.OpenFile(os.Getenv("E2E_LOG"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logf.Close()
	var mu sync.Mutex
	logLine := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(logf, format+"\n", args...)
	}
	every, _ := time.ParseDuration(os.Getenv("E2E_EVERY"))
	o := client.Options{Home: os.Getenv("E2E_HOME"), Passphrase: []byte(passphrase), Paths: cli.NewPaths().Factory}
	o.PingInterval, _ = time.ParseDuration(os.Getenv("SAMIZDAT_PING_INTERVAL"))
	o.PingTimeout, _ = time.ParseDuration(os.Getenv("SAMIZDAT_PING_TIMEOUT"))
	o.OnPath = func(p client.PathStatus) {
		if p.Connected {
			logLine("path %d up %s", time.Now().UnixNano(), p.Path)
		} else {
			logLine("path %d down %s", time.Now().UnixNano(), p.LastError)
		}
	}
	acked, counting := 0, false
	o.OnSent = func(s client.SentInfo) {
		if s.Kind == wire.KindApplication && counting {
			acked++ // the outbox sends one at a time, in order
			logLine("acked %d %d", acked, time.Now().UnixNano())
		}
	}
	c, err := client.Open(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	c.Start(ctx)
	if err := c.WaitOnline(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The first message creates the chat (with a meta message of its
	// own); acknowledgements are counted from the next one.
	if err := c.Send(ctx, "bob", "msg 0"); err != nil {
		fmt.Fprintln(os.Stderr, "send:", err)
		return 1
	}
	if err := c.Flush(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "flush:", err)
		return 1
	}
	counting = true
	n := 0
	for {
		if _, err := os.Stat(os.Getenv("E2E_STOP")); err == nil || ctx.Err() != nil {
			break
		}
		n++
		if err := c.Send(ctx, "bob", fmt.Sprintf("msg %d", n)); err != nil {
			fmt.Fprintln(os.Stderr, "send:", err)
			return 1
		}
		logLine("queued %d", n)
		time.Sleep(every)
	}
	fctx, fcancel := context.WithTimeout(ctx, 90*time.Second)
	defer fcancel()
	if err := c.Flush(fctx); err != nil {
		fmt.Fprintln(os.Stderr, "flush:", err)
		return 1
	}
	logLine("done %d", n)
	return 0
}

// freePort returns a loopback address nothing listens on right now.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// relayProc is one 'samizdat relay' child (tlsws, self-signed).
type relayProc struct {
	*proc
	name, link string
	args       []string
}

func startRelay(t *testing.T, dir, name, listen, upstream string) *relayProc {
	t.Helper()
	cover := filepath.Join(dir, "cover")
	os.MkdirAll(cover, 0o755)
	os.WriteFile(filepath.Join(cover, "index.html"), []byte("<html><body>A small bakery in Riga.</body></html>\n"), 0o644)
	r := &relayProc{name: name, args: []string{"relay", "--upstream", upstream, "--listen", listen, "--transport", "tlsws",
		"--cover-dir", cover, "--state", filepath.Join(dir, name), "--label", name, "--no-qr"}}
	r.restart(t)
	return r
}

// restart runs the relay again on the same state and port: same link.
func (r *relayProc) restart(t *testing.T) {
	t.Helper()
	r.proc = start(t, nil, r.args...)
	link := r.proc.WaitLines(t, 20*time.Second, "relay link: ")[0]
	if r.link != "" && link != r.link {
		t.Fatalf("relay %s came back with another link", r.name)
	}
	r.link = link
}

// senderLog is what the sender process logged.
type senderLog struct {
	ups    []pathEvent // "path ... up"
	acks   []time.Time // acks[i] is when message i+1 was acknowledged
	queued int
	done   int
}

type pathEvent struct {
	at   time.Time
	path string
}

func readSenderLog(t *testing.T, path string) senderLog {
	t.Helper()
	var l senderLog
	for _, line := range readLines(t, path) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 4 && f[0] == "path" && f[2] == "up":
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			l.ups = append(l.ups, pathEvent{time.Unix(0, ns), strings.Join(f[3:], " ")})
		case len(f) == 3 && f[0] == "acked":
			ns, _ := strconv.ParseInt(f[2], 10, 64)
			l.acks = append(l.acks, time.Unix(0, ns))
		case len(f) == 2 && f[0] == "queued":
			l.queued, _ = strconv.Atoi(f[1])
		case len(f) == 2 && f[0] == "done":
			l.done, _ = strconv.Atoi(f[1])
		}
	}
	return l
}

// via returns which relay (by label) a path description names, or "".
func via(path string, relays ...*relayProc) *relayProc {
	for _, r := range relays {
		if strings.Contains(path, `"`+r.name+`"`) {
			return r
		}
	}
	return nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

// TestFailover is the failover proof, with real processes over
// real TCP on 127.0.0.1: a server whose direct address is unreachable (the
// link and the book name a dead port), two tlsws relays A and B in front
// of it, two users. The server link carries only relay A; the clients
// learn relay B from the server's signed endpoint book. Alice's process
// sends a numbered message every 100 ms to Bob, who listens. Then, several
// times, the relay Alice is using is killed with SIGKILL (and restarted
// once she is back through the other one); then, several times, the relay
// in use is frozen with SIGSTOP (its flows go silent: the kernel still
// accepts and acknowledges, nothing is forwarded) and resumed later.
// Without any call from the user Alice is back through the other relay
// each time; every message is acknowledged and Bob gets each exactly once.
// It logs the time to reconnect (kill or freeze to the session being up
// again through the other relay) and to the next acknowledged message.
func TestFailover(t *testing.T) {
	kills, freezes := 5, 3
	if *long {
		kills, freezes = 10, 6
	}
	dir := t.TempDir()
	srvAddr, dead := freePort(t), freePort(t)
	relayA := startRelay(t, dir, "relay-a", freePort(t), srvAddr)
	relayB := startRelay(t, dir, "relay-b", freePort(t), srvAddr)
	srvProc := start(t, nil, "server", "--data", filepath.Join(dir, "server"), "--listen", srvAddr, "--public", dead,
		"--admin=", "--relay", relayA.link, "--relay", relayB.link, "--link-relays", "1",
		// bob's device is minutes old: probation (reach.Probation) would hand
		// it only one of the two relays; this test is about failing over.
		"--book-trust-age=-1s")
	link := srvProc.WaitLines(t, 20*time.Second, "server link: ")[0]
	if !strings.Contains(link, "book=") || !strings.Contains(link, "p=") {
		t.Fatalf("server link carries no book key or entries: %s", link)
	}

	// Keepalive tuned down so the silent variant runs in seconds; the
	// defaults (15 s / 10 s) make detection slower (see docs/benchmarks.md).
	// E2E_PING_DEFAULTS=1 measures with the defaults instead.
	pingEnv := []string{"SAMIZDAT_PING_INTERVAL=1s", "SAMIZDAT_PING_TIMEOUT=2s"}
	if os.Getenv("E2E_PING_DEFAULTS") == "1" {
		pingEnv = nil
	}
	u := signUp(t, dir, link, "alice", "bob")
	alice, bob := u[0], u[1]
	// The link named relay A only; relay B came in the signed book.
	st := bob.run(t, "status")
	mustContain(t, "bob status", st, "connected via relay", `relay "relay-a" (tlsws)`, `relay "relay-b" (tlsws)`)
	befriend(t, alice, bob)

	listen := bob.listen(t, pingEnv...)

	logPath, stopPath := filepath.Join(dir, "sender.log"), filepath.Join(dir, "sender.stop")
	sender := e2etest.StartSelf(t, append(append([]string(nil), pingEnv...), senderEnv+"=1", "E2E_HOME="+alice.home, "E2E_LOG="+logPath,
		"E2E_STOP="+stopPath, "E2E_EVERY=100ms")...)

	// current waits until the sender is up through a relay and acks flow.
	current := func() (*relayProc, senderLog) {
		t.Helper()
		var l senderLog
		var r *relayProc
		ok := e2etest.WaitFor(30*time.Second, func() bool {
			l = readSenderLog(t, logPath)
			if len(l.ups) == 0 {
				return false
			}
			up := l.ups[len(l.ups)-1]
			r = via(up.path, relayA, relayB)
			// Acks after the path came up: the stream goes through it.
			return r != nil && len(l.acks) > 0 && l.acks[len(l.acks)-1].After(up.at.Add(500*time.Millisecond))
		})
		if !ok || !sender.Running() {
			t.Fatalf("the sender is not streaming through a relay; log:\n%s\nstderr:\n%s", strings.Join(readLines(t, logPath), "\n"), sender.Stderr.String())
		}
		return r, l
	}
	type cycle struct{ reconnect, nextAck time.Duration }
	measure := func(kind string, n int, hit func(r *relayProc), heal func(r *relayProc)) []cycle {
		var out []cycle
		for i := range n {
			r, before := current()
			t0 := time.Now()
			hit(r)
			var up pathEvent
			var ack time.Time
			ok := e2etest.WaitFor(60*time.Second, func() bool {
				l := readSenderLog(t, logPath)
				for _, u := range l.ups {
					if u.at.After(t0) {
						if other := via(u.path, relayA, relayB); other != nil && other != r {
							up = u
						}
					}
				}
				for _, a := range l.acks[len(before.acks):] {
					if a.After(up.at) && !up.at.IsZero() {
						ack = a
						break
					}
				}
				return !up.at.IsZero() && !ack.IsZero()
			})
			if !ok {
				t.Fatalf("%s %d of %s: alice is not back through the other relay within 60s; log tail:\n%s\nstderr:\n%s", kind, i+1, r.name,
					strings.Join(tail(readLines(t, logPath), 20), "\n"), sender.Stderr.String())
			}
			c := cycle{up.at.Sub(t0), ack.Sub(t0)}
			t.Logf("%s %d: %s hit; up through the other relay after %v, next ack after %v", kind, i+1, r.name, c.reconnect.Round(time.Millisecond), c.nextAck.Round(time.Millisecond))
			out = append(out, c)
			time.Sleep(time.Second)
			heal(r)
			time.Sleep(time.Second)
		}
		return out
	}
	killed := measure("kill", kills, func(r *relayProc) { r.Kill() }, func(r *relayProc) { r.restart(t) })
	frozen := measure("freeze", freezes,
		func(r *relayProc) { r.Cmd.Process.Signal(syscall.SIGSTOP) },
		func(r *relayProc) { r.Cmd.Process.Signal(syscall.SIGCONT) })

	os.WriteFile(stopPath, nil, 0o600)
	if err := sender.Wait(t, 120*time.Second); err != nil {
		t.Fatalf("sender failed: %v\nstderr:\n%s", err, sender.Stderr.String())
	}
	l := readSenderLog(t, logPath)
	if l.done == 0 || l.done != l.queued || len(l.acks) != l.queued {
		t.Fatalf("sender: %d queued, %d acknowledged, done %d", l.queued, len(l.acks), l.done)
	}
	// Bob gets every message exactly once.
	count := func() map[int]int {
		got := map[int]int{}
		for _, line := range strings.Split(listen.Stdout.String(), "\n") {
			if _, m, ok := strings.Cut(line, "] alice: msg "); ok {
				n, err := strconv.Atoi(strings.TrimSpace(m))
				if err == nil {
					got[n]++
				}
			}
		}
		return got
	}
	if !e2etest.WaitFor(60*time.Second, func() bool { return len(count()) >= l.queued+1 }) {
		var missing []int
		got := count()
		for n := 0; n <= l.queued; n++ {
			if got[n] == 0 {
				missing = append(missing, n)
			}
		}
		t.Fatalf("bob is missing %d of %d acknowledged messages: %v\nlisten stderr:\n%s", len(missing), l.queued, missing, listen.Stderr.String())
	}
	time.Sleep(time.Second)
	listen.Stop(t, 15*time.Second)
	for n, k := range count() {
		if k != 1 || n < 0 || n > l.queued {
			t.Errorf("bob got msg %d %d times", n, k)
		}
	}
	report := func(kind string, cs []cycle) {
		var rec, ack []time.Duration
		for _, c := range cs {
			rec, ack = append(rec, c.reconnect), append(ack, c.nextAck)
		}
		slices.Sort(rec)
		slices.Sort(ack)
		t.Logf("RESULT %s: %d cycles; reconnect p50 %v p95 %v; next ack p50 %v p95 %v", kind, len(cs),
			quantile(rec, 0.5).Round(time.Millisecond), quantile(rec, 0.95).Round(time.Millisecond),
			quantile(ack, 0.5).Round(time.Millisecond), quantile(ack, 0.95).Round(time.Millisecond))
	}
	t.Logf("%d messages sent every 100 ms, all acknowledged, each delivered to bob exactly once", l.queued)
	report("kill -9", killed)
	report("silent (SIGSTOP)", frozen)
	t.Logf("bob's listen saw:\n%s", pathLines(listen.Stderr.String()))
}

func tail(lines []string, n int) []string { return lines[max(0, len(lines)-n):] }

// pathLines keeps listen's path changes.
func pathLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "connected") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
