package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Config configures a Server. Store and Key are required.
type Config struct {
	Store Store
	Key   *securechan.ServerKey // the secure channel's static key; clients pin its public half
	// Logger gets structured logs (slog.Default if nil). The server never
	// logs a payload, a key or a secret.
	Logger *slog.Logger
	// Limits are announced in ServerHello and enforced; each at most the
	// protocol's (wire.ProtocolLimits when zero).
	Limits wire.Limits
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// RateLimits are the token buckets; a zero Rate disables that limit.
	RateLimits RateLimits
	// Metrics receives the counters (NewMetrics if nil).
	Metrics *Metrics

	HandshakeTimeout time.Duration // securechan handshake (default 10s)
	IdleTimeout      time.Duration // a session silent this long is closed (default 5m)
	FrameTimeout     time.Duration // to receive the rest of a frame once it started (default 30s)
	WriteTimeout     time.Duration // to send one frame (default 30s)
	StoreTimeout     time.Duration // one store operation (default 30s)
	DrainTimeout     time.Duration // Serve waits this long for sessions after ctx ends (default 15s)
	// PushWindow bounds the Deliver pushes a session has outstanding
	// (not yet acknowledged) before it waits for AckDelivery (default 256).
	PushWindow int
	// Reach, if set, makes the server publish a signed endpoint book
	// (FetchBook; reach.go).
	Reach *ReachConfig
	// JanitorInterval is how often expired mailbox entries and seen ids are
	// deleted and idle rate-limit buckets dropped (default 10m).
	JanitorInterval time.Duration

	// MaxSessions caps the connections the server holds at once, in their
	// handshake or established (DefaultMaxSessions if 0; -1: no cap);
	// MaxSessionsPerAddr those from one IPv4 address or IPv6 /64 (a tenth
	// of MaxSessions if 0; -1: no cap), so that one network cannot take
	// every place. A connection over a cap is closed before its handshake.
	// A relay's clients all come from the relay's address: raise
	// MaxSessionsPerAddr on a server behind a busy relay.
	MaxSessions        int
	MaxSessionsPerAddr int
	// MaxLinkBoxes caps the pending device-linking mailboxes, server-wide
	// (DefaultMaxLinkBoxes if 0); MaxLinkBoxesPerAddr those opened from one
	// IPv4 address or IPv6 /64, MaxLinkBoxesPerAccount those opened by the
	// registered devices of one account (defaults below if 0).
	MaxLinkBoxes           int
	MaxLinkBoxesPerAddr    int
	MaxLinkBoxesPerAccount int
	// Quotas bound what one Send, one mailbox and one account may store,
	// and keep a reserve of free disk space (quota.go).
	Quotas Quotas
	// Blobs, if set, stores attachment chunks (blob.go); BlobQuota, if
	// set, is asked before a new chunk is stored; chunks expire
	// BlobRetention after they were last stored or asked for (default:
	// the mailbox retention).
	Blobs         BlobStore
	BlobQuota     BlobQuota
	BlobRetention time.Duration
	// Notifier, if set, tells the other nodes of a several-node service
	// about mailbox news, channel posts and subscriptions (bus.go); nil
	// for one node.
	Notifier Notifier
}

// Defaults of the abuse limits.
const (
	DefaultMaxSessions            = 50000
	DefaultMaxLinkBoxes           = 10000
	DefaultMaxLinkBoxesPerAddr    = 16
	DefaultMaxLinkBoxesPerAccount = 4
)

// Server serves the wire protocol over secure-channel sessions.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	sc      *securechan.Server
	hub     hub
	chans   channelHub  // channel.go
	book    *bookIssuer // reach.go; nil when no book is published
	links   linkHub     // link_device.go

	connIP    *limiter[netip.Addr]
	reqIP     *limiter[netip.Addr]
	reqDevice *limiter[store.DeviceID]
	claims    *limiter[store.DeviceID]
	chunkIP   *limiter[netip.Addr]     // chunk requests (ratelimit.go)
	chunkDev  *limiter[store.DeviceID] // chunk requests

	quota    *quotaState // quota.go
	refusals refusalLog  // refuse.go

	janitorOnce sync.Once
	sessionsWG  sync.WaitGroup
	active      atomic.Int64 // connections past the accept, until they end

	addrMu     sync.Mutex // guards activeAddr
	activeAddr map[netip.Addr]int

	mu       sync.Mutex // guards sessions and draining
	sessions map[*session]struct{}
	draining bool
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: config: Store is missing")
	}
	if cfg.Key == nil {
		return nil, errors.New("server: config: Key is missing")
	}
	if cfg.Limits == (wire.Limits{}) {
		cfg.Limits = wire.ProtocolLimits
	}
	if err := checkLimits(cfg.Limits); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	setDefault(&cfg.HandshakeTimeout, 10*time.Second)
	setDefault(&cfg.IdleTimeout, 5*time.Minute)
	setDefault(&cfg.FrameTimeout, 30*time.Second)
	setDefault(&cfg.WriteTimeout, 30*time.Second)
	setDefault(&cfg.StoreTimeout, 30*time.Second)
	setDefault(&cfg.DrainTimeout, 15*time.Second)
	setDefault(&cfg.JanitorInterval, 10*time.Minute)
	if cfg.PushWindow <= 0 {
		cfg.PushWindow = 256
	}
	setDefaultInt(&cfg.MaxSessions, DefaultMaxSessions)
	setDefaultInt(&cfg.MaxSessionsPerAddr, max(1, cfg.MaxSessions/10))
	setDefaultInt(&cfg.MaxLinkBoxes, DefaultMaxLinkBoxes)
	setDefaultInt(&cfg.MaxLinkBoxesPerAddr, DefaultMaxLinkBoxesPerAddr)
	setDefaultInt(&cfg.MaxLinkBoxesPerAccount, DefaultMaxLinkBoxesPerAccount)
	cfg.Quotas.setDefaults()
	sc, err := securechan.NewServer(securechan.ServerConfig{
		Key:              cfg.Key,
		Now:              cfg.Now,
		HandshakeTimeout: cfg.HandshakeTimeout,
		// Room above MaxFrame, so that an oversize frame still arrives
		// whole and can be answered with Error{TooLarge}.
		MaxMessageSize: 2 * wire.MaxFrame,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		metrics:   cfg.Metrics,
		sc:        sc,
		connIP:    newLimiter[netip.Addr](cfg.RateLimits.ConnectionsPerIP, cfg.Now),
		reqIP:     newLimiter[netip.Addr](cfg.RateLimits.RequestsPerIP, cfg.Now),
		reqDevice: newLimiter[store.DeviceID](cfg.RateLimits.RequestsPerDevice, cfg.Now),
		claims:    newLimiter[store.DeviceID](cfg.RateLimits.ClaimsPerDevice, cfg.Now),
		chunkIP:   newLimiter[netip.Addr](cfg.RateLimits.ChunksPerIP, cfg.Now),
		chunkDev:  newLimiter[store.DeviceID](cfg.RateLimits.ChunksPerDevice, cfg.Now),
		sessions:  make(map[*session]struct{}),

		activeAddr: make(map[netip.Addr]int),
	}
	s.refusals.init(s.log, cfg.Now)
	stats := sc.Stats
	cfg.Metrics.replay.Store(&stats)
	s.quota = newQuotaState(cfg.Quotas)
	s.hub.init()
	if cfg.Reach != nil {
		if s.book, err = newBookIssuer(*cfg.Reach, cfg.Now); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func setDefaultInt(n *int, v int) {
	if *n == 0 {
		*n = v
	}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// checkLimits accepts limits that are positive and at most the protocol's.
func checkLimits(l wire.Limits) error {
	p := wire.ProtocolLimits
	for _, c := range []struct {
		name     string
		v, limit uint32
	}{
		{"MaxFrame", l.MaxFrame, p.MaxFrame}, {"MaxPayload", l.MaxPayload, p.MaxPayload},
		{"MaxRecipients", l.MaxRecipients, p.MaxRecipients}, {"MaxKeyPackages", l.MaxKeyPackages, p.MaxKeyPackages},
		{"MaxKeyPackageSize", l.MaxKeyPackageSize, p.MaxKeyPackageSize}, {"MaxDevices", l.MaxDevices, p.MaxDevices},
		{"MaxGroupInfoSize", l.MaxGroupInfoSize, p.MaxGroupInfoSize},
	} {
		if c.v == 0 || c.v > c.limit {
			return fmt.Errorf("server: config: Limits.%s is %d, must be 1..%d", c.name, c.v, c.limit)
		}
	}
	if l.MailboxRetention == 0 || l.IdempotencyWindow == 0 {
		return errors.New("server: config: Limits.MailboxRetention and IdempotencyWindow must be positive")
	}
	return nil
}

// Public returns the server's public key, which its link carries.
func (s *Server) Public() securechan.ServerPublic { return s.cfg.Key.Public() }

// Metrics returns the server's metrics (for an admin listener).
func (s *Server) Metrics() *Metrics { return s.metrics }

// Serve accepts connections from ln until ctx ends or ln fails, and serves
// each in its own session. When ctx ends it stops accepting, lets every
// session finish the request it is handling (durable writes complete, and
// their Acks are sent), tells each client Error{Unavailable} ("reconnect"),
// closes them and returns nil after at most DrainTimeout. Serve may be
// called for several listeners at once; every session of the Server drains
// when the first of them returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	s.janitorOnce.Do(func() { go s.janitor(ctx); go s.blobJanitor(ctx) })
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.drain()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; backing off", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			s.drain()
			return fmt.Errorf("server: accepting: %w", err)
		}
		backoff = 0
		s.metrics.Connections.Add(1)
		ip := remoteIP(conn)
		if ok, _ := s.connIP.allow(addrKey(ip)); !ok {
			s.metrics.RateLimited.Add(1)
			s.refusals.log("connection rate", "remote", addrKey(ip))
			conn.Close()
			continue
		}
		if reason := s.connStart(ip); reason != "" {
			s.metrics.Refused.Add(1)
			s.refusals.log(reason, "remote", addrKey(ip))
			conn.Close()
			continue
		}
		s.sessionsWG.Add(1)
		go s.serveConn(ctx, conn, ip)
	}
}

// remoteIP returns the connection's remote IP (the zero Addr if it has
// none, for example on a pipe: such connections share one bucket).
func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// drain makes every session finish and waits for them.
func (s *Server) drain() {
	s.mu.Lock()
	s.draining = true
	for ss := range s.sessions {
		ss.startDrain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.sessionsWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.DrainTimeout):
		s.log.Warn("drain timed out; closing the remaining sessions")
		s.mu.Lock()
		for ss := range s.sessions {
			ss.sc.Close()
		}
		s.mu.Unlock()
		<-done
	}
}

// janitor expires old mailbox entries and seen ids, and drops idle
// rate-limit buckets, until ctx ends.
func (s *Server) janitor(ctx context.Context) {
	s.everyJanitorInterval(ctx, func() {
		for _, l := range []interface{ sweep() }{s.connIP, s.reqIP, s.chunkIP, s.reqDevice, s.claims, s.chunkDev} {
			l.sweep()
		}
		now := s.cfg.Now()
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
		seen, err1 := s.cfg.Store.ExpireSeen(sctx, now.Add(-time.Duration(s.cfg.Limits.IdempotencyWindow)*time.Second))
		old, err2 := s.cfg.Store.ExpireMailbox(sctx, now.Add(-time.Duration(s.cfg.Limits.MailboxRetention)*time.Second))
		cancel()
		if old > 0 {
			s.quota.shrunk(nil)
		}
		if err := errors.Join(err1, err2); err != nil {
			s.log.Error("expiry failed", "err", err)
		} else if seen > 0 || old > 0 {
			s.log.Info("expired", "seen_ids", seen, "mailbox_entries", old)
		}
	})
}

// everyJanitorInterval runs f every JanitorInterval until ctx ends.
func (s *Server) everyJanitorInterval(ctx context.Context, f func()) {
	t := time.NewTicker(s.cfg.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// storeCtx bounds one store operation. It does not end with Serve's ctx:
// a write in flight when the server drains completes.
func (s *Server) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
}
