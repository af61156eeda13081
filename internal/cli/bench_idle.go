package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

// IdleResult is the JSON form of an idle-memory run.
type IdleResult struct {
	Sessions        int     `json:"sessions"`
	RSSBeforeKiB    int64   `json:"server_rss_before_kib"`
	RSSAtBaseKiB    int64   `json:"server_rss_at_base_kib"`
	RSSAfterKiB     int64   `json:"server_rss_after_kib"`
	BaseSessions    int     `json:"base_sessions"`
	KiBPerSession   float64 `json:"kib_per_session"`
	MarginalKiB     float64 `json:"marginal_kib_per_session"`
	SetupSeconds    float64 `json:"setup_seconds"`
	SettleSeconds   float64 `json:"settle_seconds"`
	ServerProcessID int     `json:"server_pid"`
}

// runBenchIdle opens n sessions that register, subscribe and then stay
// silent, and reports how much the server's resident memory grew per
// session: over all n, and marginally between the first tenth and all n
// (which leaves out the runtime's one-time growth).
func runBenchIdle(ctx context.Context, e env, link client.ServerLink, n, pid int, jsonOut string) int {
	if pid <= 0 {
		return fail(e, "bench send", errors.New("--idle needs --server-pid PID (the server's RSS is read from /proc/PID/status)"))
	}
	before, err := readRSSKiB(pid)
	if err != nil {
		return fail(e, "bench send", err)
	}
	base := max(n/10, 1)
	var sessions []*client.Session
	defer func() {
		for _, s := range sessions {
			s.End(errors.New("done"))
		}
	}()
	start := time.Now()
	open := func(count int) error {
		got := make([]*client.Session, count)
		err := parallel(ctx, count, 64, func(i int) error {
			s, err := benchDialRegistered(ctx, link, newBenchDevice(), nil)
			if err != nil {
				return fmt.Errorf("session %d: %w", len(sessions)+i, err)
			}
			got[i] = s
			if _, err := s.Call(ctx, &wire.Subscribe{}); err != nil {
				return fmt.Errorf("session %d: subscribing: %w", len(sessions)+i, err)
			}
			return nil
		})
		for _, s := range got {
			if s != nil {
				sessions = append(sessions, s)
			}
		}
		return err
	}
	const settle = 3 * time.Second
	if err := open(base); err != nil {
		return fail(e, "bench send", err)
	}
	time.Sleep(settle)
	atBase, err := readRSSKiB(pid)
	if err != nil {
		return fail(e, "bench send", err)
	}
	if err := open(n - base); err != nil {
		return fail(e, "bench send", err)
	}
	setup := time.Since(start) - settle
	time.Sleep(settle)
	after, err := readRSSKiB(pid)
	if err != nil {
		return fail(e, "bench send", err)
	}
	for _, s := range sessions {
		if !s.Alive() {
			return fail(e, "bench send", fmt.Errorf("a session was closed while idle: %v", s.Err()))
		}
	}
	res := IdleResult{Sessions: n, RSSBeforeKiB: before, RSSAtBaseKiB: atBase, RSSAfterKiB: after, BaseSessions: base,
		KiBPerSession: float64(after-before) / float64(n), SetupSeconds: setup.Seconds(), SettleSeconds: settle.Seconds(), ServerProcessID: pid}
	if n > base {
		res.MarginalKiB = float64(after-atBase) / float64(n-base)
	}
	fmt.Fprintf(e.stdout, "%-9s %-14s %-14s %-14s %-15s %-15s\n", "sessions", "rss_before_KiB", "rss_base_KiB", "rss_after_KiB", "KiB/session", "marginal_KiB")
	fmt.Fprintf(e.stdout, "%-9d %-14d %-14d %-14d %-15.2f %-15.2f\n", n, before, atBase, after, res.KiBPerSession, res.MarginalKiB)
	if err := writeJSON(jsonOut, e.stdout, res); err != nil {
		return fail(e, "bench send", err)
	}
	return 0
}

// readRSSKiB reads VmRSS of a process from /proc/PID/status.
func readRSSKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
