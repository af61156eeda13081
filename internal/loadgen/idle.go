package loadgen

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

// Idle opens n sessions that register, subscribe and then stay silent,
// and reports how much the resident memory of the server (process pid)
// grew per session: over all n, and marginally between the first tenth
// and all n (which leaves out the runtime's one-time growth).
func Idle(ctx context.Context, link client.ServerLink, n, pid int) (IdleResult, error) {
	if pid <= 0 {
		return IdleResult{}, errors.New("loadgen: idle sessions need the server's process id (its RSS is read from /proc/PID/status)")
	}
	before, err := ReadRSSKiB(pid)
	if err != nil {
		return IdleResult{}, err
	}
	base := max(n/10, 1)
	var o idleSessions
	defer o.end()
	const settle = 3 * time.Second
	start := time.Now()
	if err := o.open(ctx, link, base); err != nil {
		return IdleResult{}, err
	}
	time.Sleep(settle)
	atBase, err := ReadRSSKiB(pid)
	if err != nil {
		return IdleResult{}, err
	}
	if err := o.open(ctx, link, n-base); err != nil {
		return IdleResult{}, err
	}
	setup := time.Since(start) - settle
	time.Sleep(settle)
	after, err := ReadRSSKiB(pid)
	if err != nil {
		return IdleResult{}, err
	}
	for _, s := range o.sessions {
		if !s.Alive() {
			return IdleResult{}, fmt.Errorf("loadgen: a session was closed while idle: %v", s.Err())
		}
	}
	res := IdleResult{Sessions: n, RSSBeforeKiB: before, RSSAtBaseKiB: atBase, RSSAfterKiB: after, BaseSessions: base,
		KiBPerSession: float64(after-before) / float64(n), SetupSeconds: setup.Seconds(), SettleSeconds: settle.Seconds(), ServerProcessID: pid}
	if n > base {
		res.MarginalKiB = float64(after-atBase) / float64(n-base)
	}
	return res, nil
}

// idleSessions are the open sessions of an Idle run.
type idleSessions struct{ sessions []*client.Session }

// open adds count registered, subscribed sessions.
func (o *idleSessions) open(ctx context.Context, link client.ServerLink, count int) error {
	got := make([]*client.Session, count)
	err := parallel(ctx, count, 64, func(i int) error {
		s, err := dialRegistered(ctx, link, NewDevice(), nil, nil)
		if err != nil {
			return fmt.Errorf("loadgen: session %d: %w", len(o.sessions)+i, err)
		}
		got[i] = s
		if _, err := s.Call(ctx, &wire.Subscribe{}); err != nil {
			return fmt.Errorf("loadgen: session %d: subscribing: %w", len(o.sessions)+i, err)
		}
		return nil
	})
	for _, s := range got {
		if s != nil {
			o.sessions = append(o.sessions, s)
		}
	}
	return err
}

func (o *idleSessions) end() {
	for _, s := range o.sessions {
		s.End(errors.New("done"))
	}
}

// ReadRSSKiB reads VmRSS of a process from /proc/PID/status.
func ReadRSSKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("loadgen: reading a process's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("loadgen: no VmRSS in /proc/%d/status", pid)
}
