package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkCLILatency times the short CLI commands a user runs most, a
// text `send`, a `read` with one new message and a `send --file` of 1 MiB,
// through real processes against one server: each command's wall time and
// CPU time (user+system, the CLI's). Every command connects, waits for its backlog (Sync) and
// exits, so this is where a wait for the backlog shows (docs/spec/wire.md
// §6.6a). SAMIZDAT_CLI_BINS (paths separated by ":") lists CLI binaries
// that take turns, round by round (default: this tree's);
// SAMIZDAT_SPLIT_ROUNDS sets the rounds (default 6). Run:
// SAMIZDAT_CLI_BINS=/tmp/a:/tmp/b go test ./e2e -run '^$' -bench CLILatency -benchtime=1x -v
func BenchmarkCLILatency(b *testing.B) {
	for b.Loop() {
		cliLatency(b)
	}
}

func cliLatency(t testing.TB) {
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "server"), "127.0.0.1:0")
	alice, bob := twoFriends(t, dir, srv.link)
	small := filepath.Join(dir, "small.bin")
	writeRandom(t, small, 1<<20)
	bins := cliBins()
	names := []string{"send wall", "send CLI CPU", "read wall", "read CLI CPU", "1 MiB file send wall", "1 MiB file send CLI CPU"}
	res := map[string][][]float64{}
	for r := range splitRounds() {
		for k := range bins {
			cli := bins[(k+r)%len(bins)]
			text := fmt.Sprintf("round %d by %s", r, filepath.Base(cli))
			send, _ := runBin(t, cli, srv.Cmd.Process.Pid, alice, "send", "bob", text)
			read, out := runBin(t, cli, srv.Cmd.Process.Pid, bob, "read", "alice")
			if !strings.Contains(string(out), text) {
				t.Fatalf("%s read did not show %q:\n%s", cli, text, out)
			}
			file, _ := runBin(t, cli, srv.Cmd.Process.Pid, alice, "send", "bob", "--file", small)
			x := addRound(res, cli, []time.Duration{send[2], send[0], read[2], read[0], file[2], file[0]})
			load, _ := os.ReadFile("/proc/loadavg")
			t.Logf("round %d %s: send wall %.3fs CPU %.3fs; read wall %.3fs CPU %.3fs; 1 MiB file send wall %.3fs CPU %.3fs; load %s",
				r+1, cli, x[0][r], x[1][r], x[2][r], x[3][r], x[4][r], x[5][r], strings.Fields(string(load))[0])
		}
	}
	logMedians(t, bins, names, res)
}
