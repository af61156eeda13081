package server

import (
	"log/slog"
	"sync"
	"time"
)

// refusalLog logs the server's refusals (rate limits, the session cap,
// quotas, the disk reserve, failed handshakes) at Info, the default level,
// with their reason and never a payload, key or secret. A flood must not
// turn the log into a second disk-fill, so each reason logs at most one
// line a second; the next line says how many were not logged meanwhile.
type refusalLog struct {
	logger *slog.Logger
	now    func() time.Time

	mu   sync.Mutex // guards last
	last map[string]*refusalCount
}

type refusalCount struct {
	at         time.Time
	suppressed int
}

func (r *refusalLog) init(log *slog.Logger, now func() time.Time) {
	r.logger, r.now, r.last = log, now, make(map[string]*refusalCount)
}

// log records a refusal for reason with attrs (slog key-value pairs).
func (r *refusalLog) log(reason string, attrs ...any) {
	now := r.now()
	r.mu.Lock()
	c := r.last[reason]
	if c == nil {
		c = &refusalCount{}
		r.last[reason] = c
	} else if now.Sub(c.at) < time.Second {
		c.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := c.suppressed
	c.at, c.suppressed = now, 0
	r.mu.Unlock()
	args := append([]any{"reason", reason}, attrs...)
	if suppressed > 0 {
		args = append(args, "more_since_last_line", suppressed)
	}
	r.logger.Info("refused", args...)
}
