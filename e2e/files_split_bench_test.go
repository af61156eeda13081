package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkFilesCPUSplit sends and downloads a 100 MiB file through the CLI
// six times and reports the CPU time (user+system) of the CLI and of the
// server apart, the wall time and the transfer's own time that the CLI
// printed, so that a change to one side can be
// measured on its own. SAMIZDAT_CLI_BINS (paths separated by ":") lists CLI
// binaries that take turns, round by round, against one server (A/B of
// client builds; default: this tree's). Run:
// SAMIZDAT_CLI_BINS=/tmp/a:/tmp/b go test ./e2e -run '^$' -bench FilesCPUSplit -benchtime=1x -v
func BenchmarkFilesCPUSplit(b *testing.B) {
	for b.Loop() {
		filesCPUSplit(b)
	}
}

func filesCPUSplit(t testing.TB) {
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	writeRandom(t, src, 100<<20)
	srv := startServer(t, filepath.Join(dir, "server"), "127.0.0.1:0")
	alice, bob := twoFriends(t, dir, srv.link)
	bins := cliBins()
	// run returns the CLI's CPU time, the server's meanwhile, the wall time
	// and the transfer's time that the CLI printed.
	run := func(cli string, u *user, args ...string) [4]time.Duration {
		c, out := runBin(t, cli, srv.Cmd.Process.Pid, u, args...)
		return [4]time.Duration{c[0], c[1], c[2], printedTransfer(t, out)}
	}
	names := []string{"send CLI CPU", "send server CPU", "send wall", "send transfer", "download CLI CPU", "download server CPU", "download wall", "download transfer"}
	res := map[string][][]float64{}
	for r := range splitRounds() {
		for k := range bins {
			cli := bins[(k+r)%len(bins)]
			up := run(cli, alice, "send", "bob", "--file", src)
			ids := fileIDs(t, bob.run(t, "read", "alice"), "big.bin")
			to := filepath.Join(dir, fmt.Sprint("down", r))
			down := run(cli, bob, "download", ids[len(ids)-1], "--dir", to)
			os.RemoveAll(to)
			x := addRound(res, cli, append(up[:], down[:]...))
			load, _ := os.ReadFile("/proc/loadavg")
			t.Logf("round %d %s: send CLI %.2fs server %.2fs wall %.2fs transfer %.2fs; download CLI %.2fs server %.2fs wall %.2fs transfer %.2fs; load %s",
				r+1, cli, x[0][r], x[1][r], x[2][r], x[3][r], x[4][r], x[5][r], x[6][r], x[7][r], strings.Fields(string(load))[0])
		}
	}
	logMedians(t, bins, names, res)
}

// cliBins is the CLI binaries that take turns: SAMIZDAT_CLI_BINS (paths
// separated by ":"), or this tree's.
func cliBins() []string {
	if s := os.Getenv("SAMIZDAT_CLI_BINS"); s != "" {
		return strings.Split(s, ":")
	}
	return []string{bin}
}

// addRound appends one round's durations to cli's series in res, in
// seconds, and returns the series.
func addRound(res map[string][][]float64, cli string, round []time.Duration) [][]float64 {
	x := res[cli]
	if x == nil {
		x = make([][]float64, len(round))
	}
	for i, v := range round {
		x[i] = append(x[i], v.Seconds())
	}
	res[cli] = x
	return x
}

// logMedians logs, per binary, the median and range of each named series.
func logMedians(t testing.TB, bins, names []string, res map[string][][]float64) {
	t.Helper()
	for _, cli := range bins {
		var s []string
		for i, name := range names {
			v := slices.Sorted(slices.Values(res[cli][i]))
			s = append(s, fmt.Sprintf("%s median %.3fs (%.3f-%.3f)", name, v[len(v)/2], v[0], v[len(v)-1]))
		}
		t.Logf("%s: %s", cli, strings.Join(s, "; "))
	}
}

// runBin runs the CLI binary cli as u and returns its CPU time (user +
// system), the server's (process srvPid) meanwhile, the wall time, and its
// output; a failure fails the test.
func runBin(t testing.TB, cli string, srvPid int, u *user, args ...string) ([3]time.Duration, []byte) {
	cmd := exec.Command(cli, append([]string{"--home", u.home}, args...)...)
	cmd.Env = append(os.Environ(), cliEnv...)
	s0, start := procCPU(t, srvPid), time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", cli, args, err, out)
	}
	wall := time.Since(start)
	return [3]time.Duration{cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), procCPU(t, srvPid) - s0, wall}, out
}

// splitRounds is the rounds of BenchmarkFilesCPUSplit: SAMIZDAT_SPLIT_ROUNDS,
// or 6.
func splitRounds() int {
	if n, err := strconv.Atoi(os.Getenv("SAMIZDAT_SPLIT_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 6
}
