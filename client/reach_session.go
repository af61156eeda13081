package client

import (
	"context"
	"crypto/ed25519"
	"net"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Keepalive defaults: a path that carries nothing for PingInterval gets a
// Ping; a request (a Ping, a Send) with no byte back for PingTimeout means
// the path went silent (a relay stopped forwarding, a censor drops the
// flow), and the session ends so that the keeper fails over.
const (
	defaultPingInterval = 15 * time.Second
	defaultPingTimeout  = 10 * time.Second
)

func secureClient(ctx context.Context, nc net.Conn, link ServerLink, device ed25519.PrivateKey) (*securechan.Conn, error) {
	return securechan.Client(ctx, nc, securechan.ClientConfig{ServerPublic: link.Key, DeviceKey: device, Padding: securechan.PadToMultiple(256)})
}

// activityConn remembers when bytes last arrived.
type activityConn struct {
	net.Conn
	last atomic.Int64 // UnixNano of the last Read that returned bytes
}

func (a *activityConn) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activityConn) Read(b []byte) (int, error) {
	n, err := a.Conn.Read(b)
	if n > 0 {
		a.touch()
	}
	return n, err
}

func (a *activityConn) lastRead() time.Time { return time.Unix(0, a.last.Load()) }

// pending returns how many requests wait for an answer.
func (s *session) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}

// watchSession pings an idle path and closes s when a request has gone
// unanswered, with no byte arriving at all, for PingTimeout. The returned
// func reports whether that is how s ended.
func (c *Client) watchSession(s *session, ac *activityConn) (silent func() bool) {
	interval, timeout := c.opts.PingInterval, c.opts.PingTimeout
	if interval <= 0 {
		interval = defaultPingInterval
	}
	if timeout <= 0 {
		timeout = defaultPingTimeout
	}
	var stalled atomic.Bool
	tick := min(max(min(interval, timeout)/10, 20*time.Millisecond), time.Second)
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		seen := ac.lastRead()
		var stuckSince time.Time
		pinging := false
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
			}
			now := time.Now()
			if lr := ac.lastRead(); lr.After(seen) {
				seen, stuckSince = lr, time.Time{}
			}
			if s.pending() == 0 {
				stuckSince = time.Time{}
				if !pinging && now.Sub(seen) >= interval {
					pinging = true
					go func() {
						ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
						s.call(ctx, &wire.Ping{})
						cancel()
					}()
				}
				continue
			}
			pinging = false
			if stuckSince.IsZero() {
				stuckSince = now
			} else if now.Sub(stuckSince) >= timeout {
				stalled.Store(true)
				c.logf("client: no answer on the path for %v; failing over", timeout)
				s.close(errPathSilent)
				return
			}
		}
	}()
	return stalled.Load
}
