package relay

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// BenchmarkForwarders measures, in one run on loopback, the relay (as the
// samizdat binary, direct and tlsws) against socat as a plain TCP forwarder
// and, when MTG_BIN names it, against mtg v2.2.8. One iteration is the whole
// measurement; it builds the samizdat binary unless SAMIZDAT_BIN names one:
//
//	MTG_BIN=/tmp/mtgbin/mtg go test -run '^$' -bench Forwarders -benchtime=1x -v -timeout 30m ./relay
//
// See docs/benchmarks.md (Relay) for the figures and what exactly mtg does
// in this setting.
func BenchmarkForwarders(b *testing.B) {
	bin := samizdatBinary(b)
	for b.Loop() {
		forwarderBenchmarks(b, bin)
	}
}

// samizdatBinary is SAMIZDAT_BIN, or the samizdat binary built from this
// tree into a temporary directory.
func samizdatBinary(t testing.TB) string {
	if bin := os.Getenv("SAMIZDAT_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "samizdat")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/samizdat").CombinedOutput(); err != nil {
		t.Fatalf("building the samizdat binary (or set SAMIZDAT_BIN): %v\n%s", err, out)
	}
	return bin
}

// forwarder is one row of BenchmarkForwarders: how to reach the echo and
// sink upstream through it, and its processes (for memory and CPU time).
type forwarder struct {
	name string
	dial transport.Dialer
	pid  func() []int
}

func forwarderBenchmarks(t testing.TB, bin string) {
	up := benchUpstream(t)
	type fwd = forwarder
	var fwds []fwd
	// add starts cmd and adds its row; also are more processes the row's
	// path takes (nginx in front of the relay).
	add := func(name string, cmd *exec.Cmd, dialer func(stdout *bufio.Reader) transport.Dialer, also ...int) {
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		d := dialer(bufio.NewReader(stdout))
		pid := cmd.Process.Pid
		fwds = append(fwds, fwd{name, d, func() []int { return append(processTree(pid), also...) }})
	}
	waitPort := func(addr string) {
		for range 100 {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("nothing listens on %s", addr)
	}

	socatAddr := freeAddr(t)
	_, socatPort, _ := net.SplitHostPort(socatAddr)
	add("socat", exec.Command("socat", "TCP-LISTEN:"+socatPort+",bind=127.0.0.1,fork,reuseaddr,backlog=4096", "TCP:"+up), func(*bufio.Reader) transport.Dialer {
		waitPort(socatAddr)
		return direct.NewDialer(socatAddr)
	})

	relayArgs := []string{"relay", "--upstream", up, "--per-ip-rate", "-1", "--max-conns", "19000", "--no-qr"}
	directAddr := freeAddr(t)
	add("relay direct", exec.Command(bin, append(relayArgs, "--transport", "direct", "--listen", directAddr)...), func(*bufio.Reader) transport.Dialer {
		waitPort(directAddr)
		return direct.NewDialer(directAddr)
	})
	tlsAddr := freeAddr(t)
	cover := t.TempDir()
	os.WriteFile(filepath.Join(cover, "index.html"), []byte("<h1>hello</h1>\n"), 0o644)
	add("relay tlsws (test-only website mode)", exec.Command(bin, append(relayArgs, "--transport", "tlsws", "--listen", tlsAddr, "--cover-dir", cover, "--state", t.TempDir())...), linkDialer(t))

	// The two production deployments (docs/operator-guide.md), when nginx
	// is installed: behind nginx, and standalone in front of it.
	if os.Getenv("BENCH_DEPLOYMENTS") != "" {
		cert, err := tlsws.SelfSigned("cover.test")
		if err != nil {
			t.Fatal(err)
		}
		state := t.TempDir()
		secret := make([]byte, 32)
		for i := range secret {
			secret[i] = byte(i + 1)
		}
		os.WriteFile(filepath.Join(state, "tlsws-secret"), []byte(base64.RawURLEncoding.EncodeToString(secret)), 0o600)
		backend := freeAddr(t)
		site := startNginx(t, cover, cert, tlsws.SecretPath(secret), backend)
		add("relay tlsws behind nginx", exec.Command(bin, append(relayArgs, "--transport", "tlsws", "--mode", "behind", "--listen", backend,
			"--public", site.fronted, "--host", "cover.test", "--web-cert", site.certFile, "--state", state)...), linkDialer(t), site.pid)
		if before := os.Getenv("BENCH_BASELINE_BIN"); before != "" {
			// Another build of the relay (main's, say), in turns with this
			// one: before and after from the same run.
			bBackend := freeAddr(t)
			bsite := startNginx(t, cover, cert, tlsws.SecretPath(secret), bBackend)
			add("relay tlsws behind nginx, BENCH_BASELINE_BIN", exec.Command(before, append(relayArgs, "--transport", "tlsws", "--mode", "behind", "--listen", bBackend,
				"--public", bsite.fronted, "--host", "cover.test", "--web-cert", bsite.certFile, "--state", state)...), linkDialer(t), bsite.pid)
		}
		unixBackend := "unix:" + filepath.Join(t.TempDir(), "relay.sock")
		usite := startNginx(t, cover, cert, tlsws.SecretPath(secret), unixBackend)
		add("relay tlsws behind nginx, unix socket", exec.Command(bin, append(relayArgs, "--transport", "tlsws", "--mode", "behind", "--listen", unixBackend,
			"--public", usite.fronted, "--host", "cover.test", "--web-cert", usite.certFile, "--state", state)...), linkDialer(t), usite.pid)
		aloneAddr := freeAddr(t)
		add("relay tlsws standalone", exec.Command(bin, append(relayArgs, "--transport", "tlsws", "--mode", "standalone", "--listen", aloneAddr,
			"--host", "cover.test", "--cover-origin", site.plain, "--state", t.TempDir())...), linkDialer(t))
		fwds = append(fwds, nginxFloors(t, cover, cert, secret)...)
	}

	if mtg := os.Getenv("MTG_BIN"); mtg != "" {
		mtgAddr := freeAddr(t)
		_, upPort, _ := net.SplitHostPort(up)
		conf := filepath.Join(t.TempDir(), "mtg.toml")
		secret := "ee" + strings.Repeat("5a", 16) + hex.EncodeToString([]byte("localhost"))
		os.WriteFile(conf, []byte(fmt.Sprintf(`secret = %q
bind-to = %q
concurrency = 19000
public-ipv4 = "127.0.0.1"
[domain-fronting]
ip = "127.0.0.1"
port = %s
[network.timeout]
idle = "5m"
[defense.blocklist]
enabled = false
[defense.anti-replay]
enabled = true
[stats.prometheus]
enabled = false
`, secret, mtgAddr, upPort)), 0o644)
		add("mtg (fronting path)", exec.Command(mtg, "run", conf), func(*bufio.Reader) transport.Dialer {
			waitPort(mtgAddr)
			return direct.NewDialer(mtgAddr)
		})
	}

	type result struct {
		bulk, stream, rtt float64 // MB/s (after the first second), messages/s, round trips/s
		bulkFresh         float64 // MB/s on a fresh tunnel, its opening included
		rttOpening        float64 // round trips/s in a tunnel's first second
		rttCPU            float64 // µs of CPU time per round trip, both sides
		rttOwnCPU         float64 // the same, the forwarder's processes only
		rttWakes          float64 // the forwarder's threads' voluntary context switches per round trip
		memPerConn        float64 // KiB
	}
	// Forwarders take turns within each round (BENCH_ROUNDS, default 3),
	// so that a shared machine's load changes hit every row alike; each
	// figure is the median of the rounds (memory: one measurement).
	results := map[string]*result{}
	runs := envInt("BENCH_ROUNDS", 3)
	samples := map[string]*[8][]float64{}
	for _, f := range fwds {
		results[f.name], samples[f.name] = &result{}, &[8][]float64{}
	}
	size := int64(envInt("BENCH_BULK_MIB", 256)) << 20
	for round := 0; round < runs; round++ {
		for _, f := range fwds {
			s := samples[f.name]
			s[0] = append(s[0], bulkMBps(t, f.dial, size, true))
			s[7] = append(s[7], bulkMBps(t, f.dial, size, false))
			s[1] = append(s[1], streamMsgsPerSec(t, f.dial, time.Second))
			rt := roundTrips(t, f, time.Second)
			s[2], s[3], s[4] = append(s[2], rt.perSec), append(s[3], rt.openingPerSec), append(s[4], rt.cpuPer)
			s[5], s[6] = append(s[5], rt.ownCPUPer), append(s[6], rt.wakesPer)
		}
		t.Logf("round %d of %d done", round+1, runs)
	}
	for _, f := range fwds {
		r, s := results[f.name], samples[f.name]
		r.bulk, r.stream, r.rtt, r.bulkFresh = medianOf(s[0]), medianOf(s[1]), medianOf(s[2]), medianOf(s[7])
		r.rttOpening, r.rttCPU, r.rttOwnCPU, r.rttWakes = medianOf(s[3]), medianOf(s[4]), medianOf(s[5]), medianOf(s[6])
		r.memPerConn = memPerConn(t, f.dial, f.pid, envInt("BENCH_CONNS", 2000))
		t.Logf("%s: bulk %.0f MB/s %.0f (fresh tunnel %.0f %.0f), stream %.0f msg/s %.0f, ping-pong %.0f rt/s %.0f (first second %.0f), µs CPU per round trip %.0f %.0f (forwarder %.0f %.0f, wake-ups %.2f %.2f), %.1f KiB per idle conn",
			f.name, r.bulk, s[0], r.bulkFresh, s[7], r.stream, s[1], r.rtt, s[2], s[3], r.rttCPU, s[4], r.rttOwnCPU, s[5], r.rttWakes, s[6], r.memPerConn)
	}
	base := results["socat"]
	var b strings.Builder
	fmt.Fprintf(&b, "| forwarder | bulk MB/s | vs socat | bulk, fresh tunnel | vs socat | 100 B msgs/s (stream) | vs socat | 100 B round trips/s | vs socat | the same in a tunnel's first second | µs CPU per round trip: both sides | the forwarder | its wake-ups per round trip | KiB per idle relayed conn |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range fwds {
		r := results[f.name]
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.0f | %.2f | %.0f | %.2f | %.0f | %.2f | %.0f | %.0f | %.0f | %.2f | %.1f |\n", f.name, r.bulk, r.bulk/base.bulk, r.bulkFresh, r.bulkFresh/base.bulkFresh, r.stream, r.stream/base.stream,
			r.rtt, r.rtt/base.rtt, r.rttOpening, r.rttCPU, r.rttOwnCPU, r.rttWakes, r.memPerConn)
	}
	if m, ok := results["mtg (fronting path)"]; ok {
		d := results["relay direct"]
		fmt.Fprintf(&b, "\nrelay direct / mtg: bulk %.2f, stream %.2f, round trips %.2f, memory %.2f\n", d.bulk/m.bulk, d.stream/m.stream, d.rtt/m.rtt, d.memPerConn/m.memPerConn)
	}
	t.Logf("\n%s", b.String())
}

// benchUpstream is the stand-in server. The first byte of a connection
// picks the mode: 'S' and a big-endian u64 size sinks that many bytes and
// answers one byte; 'E' echoes.
func benchUpstream(t testing.TB) string { return testnet.ServeTCP(t, serveBench) }

// serveBench is benchUpstream's side of one conn.
func serveBench(c net.Conn) {
	defer c.Close()
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case 'S':
		var size [8]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		n := int64(binary.BigEndian.Uint64(size[:]))
		if m, _ := io.CopyBuffer(io.Discard, io.LimitReader(c, n), make([]byte, 64<<10)); m == n {
			c.Write([]byte{1})
		}
	case 'E':
		io.CopyBuffer(c, c, make([]byte, 16<<10))
	}
}

func freeAddr(t testing.TB) string { return testnet.FreeAddr(t) }

func dialBench(t testing.TB, d transport.Dialer) net.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bulkMBps sends size bytes in 64 KiB writes and waits for the sink's
// one-byte acknowledgement. With settle, the clock starts a second after
// the request's header went out, as roundTrips counts after a tunnel's
// first second: a tlsws tunnel's opening replays a page load's records
// then (transport/tlsws/shape.go, by design), a fixed cost per tunnel
// that the fresh-tunnel figure (settle false) keeps in.
func bulkMBps(t testing.TB, d transport.Dialer, size int64, settle bool) float64 {
	c := dialBench(t, d)
	defer c.Close()
	buf := make([]byte, 64<<10)
	start := time.Now()
	hdr := make([]byte, 9)
	hdr[0] = 'S'
	binary.BigEndian.PutUint64(hdr[1:], uint64(size))
	if _, err := c.Write(hdr); err != nil {
		t.Fatal(err)
	}
	if settle {
		time.Sleep(time.Second)
		start = time.Now()
	}
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	var ack [1]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		t.Fatalf("bulk ack: %v", err)
	}
	return float64(size) / time.Since(start).Seconds() / 1e6
}

// streamMsgsPerSec writes 100-byte messages, one Write each, for d, and
// counts how many the sink received (it acknowledges at EOF).
func streamMsgsPerSec(t testing.TB, dl transport.Dialer, d time.Duration) float64 {
	c := dialBench(t, dl)
	defer c.Close()
	msg := make([]byte, 100)
	msg[0] = 'E' // echo mode: count the bytes that come back
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	n := got.Load()
	c.Close()
	<-done
	return float64(n) / 100 / el.Seconds()
}

// roundTripRate is what roundTrips measured.
type roundTripRate struct {
	perSec        float64 // after the tunnel's first second
	openingPerSec float64 // in the tunnel's first second
	cpuPer        float64 // µs of CPU time (user+sys) per round trip, after the first second
	ownCPUPer     float64 // the same, f's processes only
	wakesPer      float64 // voluntary context switches of f's threads per round trip: each is a sleep and a wake-up
}

// roundTrips sends 100 bytes and waits for their echo, for a second from
// the dial (a tlsws tunnel's opening replays a page load's records then:
// transport/tlsws/shape.go, by design), then for d more, which perSec and
// cpuPer count: CPU time of the test process (the client and the echo)
// and of f's processes, and wakesPer.
func roundTrips(t testing.TB, f forwarder, d time.Duration) roundTripRate {
	c := dialBench(t, f.dial)
	defer c.Close()
	msg := make([]byte, 100)
	msg[0] = 'E'
	if _, err := c.Write(msg[:1]); err != nil { // the mode byte
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	pingPong := func(d time.Duration) float64 {
		n := 0
		start := time.Now()
		for time.Since(start) < d {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			n++
		}
		return float64(n)
	}
	var r roundTripRate
	r.openingPerSec = pingPong(time.Second)
	own := f.pid() // after the dial: socat forks per conn
	pids := append(slices.Clone(own), os.Getpid())
	cpu, ownCPU, wakes := cpuTime(pids), cpuTime(own), contextSwitches(own)
	start := time.Now()
	n := pingPong(d)
	r.perSec = n / time.Since(start).Seconds()
	r.cpuPer = float64((cpuTime(pids) - cpu).Microseconds()) / n
	r.ownCPUPer = float64((cpuTime(own) - ownCPU).Microseconds()) / n
	r.wakesPer = float64(contextSwitches(own)-wakes) / n
	return r
}

// contextSwitches sums the voluntary context switches of pids' threads
// (/proc/PID/task/TID/status).
func contextSwitches(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", p, task.Name()))
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					sum += n
				}
			}
		}
	}
	return sum
}

// cpuTime sums the user and system CPU time of pids (/proc/PID/stat).
func cpuTime(pids []int) time.Duration {
	var ticks int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 12 { // fields 14 and 15 of proc(5): utime, stime
			u, _ := strconv.ParseInt(f[11], 10, 64)
			k, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + k
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// memPerConn opens n relayed connections (each proven relayed by an
// echo), and returns the growth of the forwarder's resident memory (all its
// processes) per connection, in KiB.
func memPerConn(t testing.TB, dl transport.Dialer, pids func() []int, n int) float64 {
	before := rssKiB(pids())
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c := dialBench(t, dl)
		conns = append(conns, c)
		// Echo mode, then 7 bytes to echo: at least a TLS record header's
		// worth, so that mtg's hello parser fails at once, not on its
		// handshake timeout.
		c.Write([]byte("Eabcdefg"))
		var b [7]byte
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatalf("conn %d not relayed: %v", len(conns), err)
		}
		c.SetReadDeadline(time.Time{})
	}
	time.Sleep(time.Second)
	after := rssKiB(pids())
	return float64(after-before) / float64(n)
}

// processTree returns pid and its descendants (socat forks per connection).
func processTree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

func rssKiB(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				sum += kb
			}
		}
	}
	return sum
}

func medianOf(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// linkDialer reads the relay link a relay prints and dials its tlsws entry.
func linkDialer(t testing.TB) func(out *bufio.Reader) transport.Dialer {
	return func(out *bufio.Reader) transport.Dialer {
		for {
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("relay tlsws printed no link: %v", err)
			}
			if l, ok := strings.CutPrefix(strings.TrimSpace(line), "relay link: "); ok {
				link, err := reach.ParseLink(l)
				if err != nil {
					t.Fatal(err)
				}
				d, err := tlsws.DialerFromSpec(link.Unsigned[0].Spec)
				if err != nil {
					t.Fatal(err)
				}
				go io.Copy(io.Discard, out)
				return d
			}
		}
	}
}
