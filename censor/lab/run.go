// Package lab runs a censorship scenario (censor/scenarios) against real
// samizdat processes on the network-namespace topology of censor/netns, and
// reports what got through: the delivery ratio, acknowledged messages lost,
// time to recover after each block event (p50, p95), relays burned and the
// share of relays enumerated, as JSON and as an HTML page with a timeline.
//
// A run: the server (`samizdat server`), a cover website (Debian's nginx,
// nginx.go) and, once `samizdat relay` exists, relays each run in a host
// namespace; two or more users (`samizdat lab user`, a client built on
// package client) in client namespaces exchange invites and a first message
// with no censor in the way. Then the scenario's rules go live in the
// interceptor (flows in progress are cut, so every later flow is judged),
// each user sends a numbered message every Options.Every to the next user,
// and the run lasts the scenario's duration (quick: at most about 60 s).
// Then the censor is lifted (flows cut again) and the run drains: every
// acknowledged message must arrive, or it is counted lost.
//
// A run fails if an acknowledged message is lost, or if after a block event
// delivery did not recover within the scenario's threshold while a path
// the censor had not blocked existed for the users it hit (see metrics.go
// for how that is decided).
package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/censor"
	"github.com/samizdat-project/samizdat/censor/netns"
	"github.com/samizdat-project/samizdat/censor/scenarios"
)

// Lab addresses (docs/lab.md).
var (
	serverAddr  = netip.MustParseAddr("198.18.10.2")
	coverAddr   = netip.MustParseAddr("198.18.200.2")
	censorRange = netip.MustParsePrefix("198.18.1.0/24")
)

func userAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)}) }

const (
	serverPort    = 443
	interceptPort = 15001
)

// Options tune a run.
type Options struct {
	Binary string        // the samizdat binary (required)
	Quick  bool          // use the scenario's quick duration
	Users  int           // default 2
	Every  time.Duration // between one user's numbered messages; default 250 ms
	Drain  time.Duration // after the censor is lifted; default 20 s
	Dir    string        // working directory (default: a temporary one, removed)
	Logf   func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.Users < 2 {
		o.Users = 2
	}
	if o.Every <= 0 {
		o.Every = 250 * time.Millisecond
	}
	if o.Drain <= 0 {
		o.Drain = 20 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Run runs one scenario and returns its report. An error means the run
// could not be carried out (setup failed); a run that was carried out and
// failed its criteria returns a Report with Pass false.
func Run(ctx context.Context, sc *censor.Scenario, o Options) (*Report, error) {
	o.defaults()
	if o.Binary == "" {
		return nil, errors.New("lab: Options.Binary is required")
	}
	if err := Available(); err != nil {
		return nil, err
	}
	cleanup, err := o.workDir(sc.Name)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	duration := time.Duration(sc.Duration)
	if o.Quick {
		duration = time.Duration(sc.Quick)
	}
	l := &labRun{sc: sc, o: o, started: time.Now()}
	pool := poolRelays(sc.PoolRelays)
	l.relays = append(slices.Clone(labRelays), pool...)
	defer l.close()
	if err := l.setUp(ctx); err != nil {
		return nil, err
	}
	in, err := l.censorLive(ctx, duration)
	if err != nil {
		return nil, err
	}
	r := buildReport(sc, o, in)
	r.Topology = l.topo.ID
	r.WallTime = Duration(time.Since(l.started).Round(time.Millisecond))
	r.Flows, r.FlowsFailed = l.in.Flows()
	return r, nil
}

// workDir sets o.Dir to the run's working directory; cleanup removes a
// temporary one.
func (o *Options) workDir(scenario string) (cleanup func(), err error) {
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "samizdat-lab-"+scenario+"-")
		if err != nil {
			return nil, err
		}
		o.Dir = dir
		return func() { os.RemoveAll(dir) }, nil
	}
	o.Dir = filepath.Join(o.Dir, scenario)
	return func() {}, os.MkdirAll(o.Dir, 0o700)
}

// labRun is one run's topology, interceptor and processes.
type labRun struct {
	sc      *censor.Scenario
	o       Options
	started time.Time

	topo      *netns.Topology
	in        *netns.Interceptor
	idle      *censor.Engine // the engine with no rules, before and after
	stopProcs context.CancelFunc
	procs     []*proc
	users     []*proc
	streams   []*userStream
	link      string
	fakes     *fakeClients
	relays    []labRelay // labRelays, then the scenario's pool (pool.go)
}

// close stops the processes (last started first), the interceptor and the
// topology.
func (l *labRun) close() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.procs[i].stop()
	}
	if l.stopProcs != nil {
		l.stopProcs()
	}
	if l.in != nil {
		l.in.Close()
	}
	if l.topo != nil {
		l.topo.Close()
	}
}

// setUp builds the topology with an idle censor, starts the relays, the
// server, the cover site and the users, and has the users exchange a first
// message with no censor in the way.
func (l *labRun) setUp(ctx context.Context) error {
	nodes := []netns.NodeSpec{
		{Name: "server", Role: netns.Host, Addrs: []netip.Addr{serverAddr}},
		{Name: "cover", Role: netns.Host, Addrs: []netip.Addr{coverAddr}},
	}
	for _, r := range labRelays {
		nodes = append(nodes, netns.NodeSpec{Name: r.Name, Role: netns.Host, Addrs: []netip.Addr{r.Addr}})
	}
	if pool := l.relays[len(labRelays):]; len(pool) > 0 {
		nodes = append(nodes, netns.NodeSpec{Name: poolNode, Role: netns.Host, Addrs: poolAddrs(pool)})
	}
	for i := 0; i < l.o.Users; i++ {
		nodes = append(nodes, netns.NodeSpec{Name: userName(i), Role: netns.Client, Addrs: []netip.Addr{userAddr(i)}})
	}
	var err error
	if l.topo, err = netns.New(nodes, interceptPort); err != nil {
		return err
	}
	l.o.Logf("%s: topology %s up", l.sc.Name, l.topo.ID)
	l.idle = censor.New(censor.Config{Exempt: []netip.Prefix{censorRange}})
	if l.in, err = l.topo.StartInterceptor(l.idle); err != nil {
		return err
	}
	pctx, stop := context.WithCancel(context.Background())
	l.stopProcs = stop
	if err := l.startServices(ctx, pctx); err != nil {
		return err
	}
	users, streams, err := startUsers(ctx, pctx, l.topo, l.o, l.link)
	l.procs = append(l.procs, users...)
	l.users, l.streams = users, streams
	if err != nil {
		return err
	}
	l.o.Logf("%s: %d users ready after %v", l.sc.Name, l.o.Users, time.Since(l.started).Round(time.Millisecond))
	l.fakes, err = newFakeClients(l.link, func(ctx context.Context, addr string) (net.Conn, error) {
		return l.topo.DialContext(ctx, "", "tcp4", addr)
	})
	return err
}

// operatorInvitations mints one invitation per user with the operator's
// command ('samizdat server invite'), from the server's data directory.
func operatorInvitations(ctx context.Context, o Options) ([]string, error) {
	out, err := exec.CommandContext(ctx, o.Binary, "server", "invite", "--data", filepath.Join(o.Dir, "server"), "--count", fmt.Sprint(o.Users)).Output()
	if err != nil {
		return nil, fmt.Errorf("lab: minting invitations: %w", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != o.Users {
		return nil, fmt.Errorf("lab: 'samizdat server invite' printed %d invitations, want %d", len(lines), o.Users)
	}
	return lines, nil
}

// startServices starts the relays first (their upstream is the server's
// address), then the server, which publishes them in its signed endpoint
// book, then the cover site.
func (l *labRun) startServices(ctx, pctx context.Context) error {
	relayProcs, relayLinks, err := startRelays(ctx, pctx, l.topo, l.o)
	l.procs = append(l.procs, relayProcs...)
	if err != nil {
		return err
	}
	poolProc, poolLinks, err := startPool(ctx, pctx, l.topo, l.o, l.relays[len(labRelays):])
	if poolProc != nil {
		l.procs = append(l.procs, poolProc)
	}
	if err != nil {
		return err
	}
	relayLinks = append(relayLinks, poolLinks...)
	srvArgs := []string{"server", "--data", filepath.Join(l.o.Dir, "server"), "--listen", netip.AddrPortFrom(serverAddr, serverPort).String(),
		"--admin", "", "--link-relays", fmt.Sprint(linkRelays),
		// Users redeem the operator's invitations during setup
		// (operatorInvitations), so past this trust age they are handed
		// relays of invited users; the enumerator's accounts are never
		// invited and stay on probation however old (server/distribution.go).
		// A blocked relay's replacement comes within the reveal rate. The
		// bucket is a twentieth of the relays (2 of 55): all that accounts
		// never invited can learn (docs/lab.md, enumeration-100).
		"--book-trust-age", "1ms", "--book-reveal-every", "5s", "--book-probation-share", "0.05"}
	for _, rl := range relayLinks {
		srvArgs = append(srvArgs, "--relay", rl)
	}
	srv, err := startProc(pctx, l.topo, l.o.Dir, "server", "server", l.o.Binary, srvArgs...)
	if err != nil {
		return err
	}
	l.procs = append(l.procs, srv)
	line, err := srv.waitLine(ctx, 30*time.Second, func(s string) bool { return strings.HasPrefix(s, "server link: ") })
	if err != nil {
		return err
	}
	l.link = strings.TrimPrefix(line, "server link: ")
	cover, err := startNginxCover(ctx, pctx, l.topo, l.o.Dir, netip.AddrPortFrom(coverAddr, 443))
	if cover != nil {
		l.procs = append(l.procs, cover)
	}
	return err
}

// censorLive puts the scenario's rules live, has the users send for
// duration, lifts the censor, drains, and returns what the report needs.
func (l *labRun) censorLive(ctx context.Context, duration time.Duration) (reportInput, error) {
	hooks := censor.Hooks{
		ProbeDial: func(ctx context.Context, ep netip.AddrPort) (net.Conn, error) {
			return l.topo.DialContext(ctx, "", "tcp4", ep.String())
		},
		ProbeReference: func(ctx context.Context) (net.Conn, error) {
			return l.topo.DialContext(ctx, "", "tcp4", netip.AddrPortFrom(coverAddr, 443).String())
		},
		Ask: l.fakes.ask,
	}
	rules, err := l.sc.Build(hooks)
	if err != nil {
		return reportInput{}, err
	}
	engine := censor.New(censor.Config{Seed: l.sc.Seed, Exempt: []netip.Prefix{censorRange}})
	t0 := time.Now()
	engine.Add(rules...)
	mctx, stopMirror := context.WithCancel(ctx)
	defer stopMirror()
	mirrorBlocks(mctx, l.topo, t0, blocklistStages(rules, t0), engine.BlockedEndpoints, l.o.Logf)
	mirrorUDPBlock(l.topo, rules, l.o.Logf)
	l.in.SetEngine(engine)
	cut := l.in.ResetFlows()
	l.o.Logf("%s: censor live (%d flows cut); running %v", l.sc.Name, cut, duration)
	for i, u := range l.users {
		if err := u.send(UserCommand{Cmd: "start", Name: userName((i + 1) % len(l.users))}); err != nil {
			return reportInput{}, err
		}
	}
	select {
	case <-time.After(duration):
	case <-ctx.Done():
		return reportInput{}, ctx.Err()
	}
	for _, u := range l.users {
		u.send(UserCommand{Cmd: "stop"})
	}
	tEnd := time.Now()
	stopMirror()
	l.topo.Unblock()
	l.in.SetEngine(l.idle)
	l.in.ResetFlows()
	l.o.Logf("%s: censor lifted; draining up to %v", l.sc.Name, l.o.Drain)
	logProbes(l.o.Logf, l.sc.Name, rules)
	waitFor(ctx, l.o.Drain, nil, func() bool { return allDelivered(l.streams) })
	return l.reportInput(t0, tEnd, time.Now(), duration, engine, rules), nil
}

// blocklistStages are the address-range stages of the rules, on the clock.
func blocklistStages(rules []censor.Rule, t0 time.Time) []stageAt {
	var stages []stageAt
	for _, r := range rules {
		if b, ok := r.(*censor.IPBlocklist); ok {
			for _, st := range b.Stages {
				stages = append(stages, stageAt{at: t0.Add(st.After), prefixes: st.Prefixes})
			}
		}
	}
	return stages
}

// reportInput gathers what buildReport reads.
func (l *labRun) reportInput(t0, tEnd, tDrained time.Time, duration time.Duration, engine *censor.Engine, rules []censor.Rule) reportInput {
	in := reportInput{
		t0: t0, tEnd: tEnd, tDrained: tDrained, duration: duration, link: l.link,
		streams: l.streams, engine: engine, rules: rules, relays: l.relays,
		endpoints: []netip.AddrPort{netip.AddrPortFrom(serverAddr, serverPort)},
		known:     knownPaths(l.streams, l.relays), design: designs[l.sc.Name],
	}
	for _, rl := range l.relays {
		in.endpoints = append(in.endpoints, rl.endpoint())
	}
	for _, r := range rules {
		if en, ok := r.(*censor.Enumerator); ok {
			in.enumerating = true
			in.learned = en.Learned()
		}
	}
	return in
}

// knownPaths reads, from each user's "paths" event, the endpoints its
// client knew when the censor went live: `direct "ID" (direct)` is the
// server's address, `relay "LABEL" (tlsws)` a lab relay by its label.
func knownPaths(streams []*userStream, relays []labRelay) map[string][]netip.AddrPort {
	out := map[string][]netip.AddrPort{}
	for i, s := range streams {
		ev, ok := s.find(func(e UserEvent) bool { return e.Ev == "paths" })
		if !ok {
			continue
		}
		var eps []netip.AddrPort
		for _, line := range strings.Split(ev.Text, "\n") {
			kind, rest, _ := strings.Cut(line, " ")
			label, _, _ := strings.Cut(strings.TrimPrefix(rest, `"`), `"`)
			if kind == "direct" {
				eps = append(eps, netip.AddrPortFrom(serverAddr, serverPort))
			} else if rl, ok := relayByLabel(relays, label); ok {
				eps = append(eps, rl.endpoint())
			}
		}
		out[userName(i)] = eps
	}
	return out
}

func userName(i int) string { return fmt.Sprintf("u%d", i) }

// startUsers starts the lab users, has them add each other, and sends each
// one's first message (which creates the chat) with no censor in the way.
func startUsers(ctx, pctx context.Context, topo *netns.Topology, o Options, link string) ([]*proc, []*userStream, error) {
	var users []*proc
	var streams []*userStream
	invitations, err := operatorInvitations(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < o.Users; i++ {
		name := userName(i)
		p, err := startProc(pctx, topo, o.Dir, name, name, o.Binary, "lab", "user",
			"--home", filepath.Join(o.Dir, name), "--name", name, "--server", link, "--every", o.Every.String(), "--invitation", invitations[i])
		if err != nil {
			return users, streams, err
		}
		users = append(users, p)
		streams = append(streams, newUserStream(p))
	}
	invites := make([]string, o.Users)
	for i, s := range streams {
		var ev UserEvent
		ok := waitFor(ctx, 60*time.Second, nil, func() bool {
			var found bool
			ev, found = s.find(func(e UserEvent) bool { return e.Ev == "invite" || e.Ev == "error" })
			return found
		})
		if !ok || ev.Ev == "error" {
			return users, streams, fmt.Errorf("lab: %s did not come online: %s %s", userName(i), ev.Text, users[i].tail())
		}
		invites[i] = ev.Text
	}
	for i, u := range users {
		for j := range users {
			if i != j {
				if err := u.send(UserCommand{Cmd: "peer", Name: userName(j), Invite: invites[j]}); err != nil {
					return users, streams, err
				}
			}
		}
	}
	// One at a time, so that the chat user i creates exists on both sides
	// before the next one writes.
	for i, u := range users {
		j := (i + 1) % len(users)
		if err := u.send(UserCommand{Cmd: "hello", Name: userName(j)}); err != nil {
			return users, streams, err
		}
		from := userName(i)
		ok := waitFor(ctx, 90*time.Second, nil, func() bool {
			_, ready := streams[i].find(func(e UserEvent) bool { return e.Ev == "ready" })
			_, got := streams[j].find(func(e UserEvent) bool { return e.Ev == "recv" && e.N == 0 && e.From == from })
			return ready && got
		})
		if !ok {
			errEv, _ := streams[i].find(func(e UserEvent) bool { return e.Ev == "error" })
			return users, streams, fmt.Errorf("lab: %s's first message to %s did not arrive: %s %s", from, userName(j), errEv.Text, users[i].tail())
		}
	}
	return users, streams, nil
}

// allDelivered reports whether every numbered message sent was received.
func allDelivered(streams []*userStream) bool {
	sent := map[string]int{}
	got := map[string]map[int]bool{}
	for i, s := range streams {
		for _, ev := range s.snapshot() {
			switch ev.Ev {
			case "sent":
				sent[userName(i)] = max(sent[userName(i)], ev.N)
			case "recv":
				if got[ev.From] == nil {
					got[ev.From] = map[int]bool{}
				}
				got[ev.From][ev.N] = true
			}
		}
	}
	for from, n := range sent {
		for k := 1; k <= n; k++ {
			if !got[from][k] {
				return false
			}
		}
	}
	return true
}

// Scenarios returns the scenario files built into the binary, by name.
func Scenarios() ([]*censor.Scenario, error) {
	entries, err := scenarios.Files.ReadDir(".")
	if err != nil {
		return nil, err
	}
	var out []*censor.Scenario
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := scenarios.Files.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		s, err := censor.ParseScenario(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, s)
	}
	return out, nil
}

// LoadScenario finds a built-in scenario by name, or reads a scenario file.
func LoadScenario(nameOrPath string) (*censor.Scenario, error) {
	if strings.HasSuffix(nameOrPath, ".json") {
		data, err := os.ReadFile(nameOrPath)
		if err != nil {
			return nil, err
		}
		return censor.ParseScenario(data)
	}
	all, err := Scenarios()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range all {
		if s.Name == nameOrPath {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return nil, fmt.Errorf("lab: no scenario %q (have: %s)", nameOrPath, strings.Join(names, ", "))
}
