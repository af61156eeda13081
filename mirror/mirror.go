package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/channel/channelwire"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Config says what a Mirror follows and where it keeps it.
type Config struct {
	Links      []client.ChannelLink // the mirrored channels (see ParseLinks)
	PerChannel int                  // posts kept per channel
	CachePath  string               // the cache file; "" keeps the cache in memory
	Log        *slog.Logger         // nil discards
	Dial       client.Dialer        // how to reach the channels' servers; nil dials TCP
}

// Mirror follows each mirrored channel on the channel's server (subscribe,
// catch up, reconnect in the background), keeps a verified channel.Cache of
// its recent posts, saves it to a file, and answers FetchChannel and
// FetchChannelPosts from it on a listener of its own (channelwire).
// Channels are public: the cache holds descriptors and signed posts, and
// nothing about the readers.
type Mirror struct {
	cfg   Config
	cache *channel.Cache
	log   *slog.Logger
	dirty chan struct{} // 1-buffered: the cache changed since the last save
}

// New makes the mirror of cfg.Links and loads the cache file, if any.
// Entries of the file that do not verify are refused (and logged); a
// damaged file is logged and what loaded before the damage is served.
func New(cfg Config) *Mirror {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mirror{cfg: cfg, cache: channel.NewCache(cfg.PerChannel, len(cfg.Links)), log: log, dirty: make(chan struct{}, 1)}
	if cfg.CachePath != "" {
		m.load()
	}
	return m
}

// Cache is the mirror's verified cache (what it serves).
func (m *Mirror) Cache() *channel.Cache { return m.cache }

func (m *Mirror) load() {
	b, err := os.ReadFile(m.cfg.CachePath)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		m.log.Warn("channel mirror: cannot read the cache file; starting empty", "err", err)
		return
	}
	ids := map[channel.ID]bool{}
	for _, l := range m.cfg.Links {
		ids[channel.ID(l.ID())] = true
	}
	refused, why, err := m.cache.Load(b, func(id channel.ID) bool { return ids[id] })
	if refused > 0 {
		m.log.Warn("channel mirror: refused entries of the cache file that do not verify", "refused", refused, "first", why)
	}
	if err != nil {
		m.log.Warn("channel mirror: the cache file is damaged; serving what loaded", "err", err)
	}
	for _, l := range m.cfg.Links {
		if n := m.cache.LastSeq(channel.ID(l.ID())); n > 0 {
			m.log.Info("channel mirror: loaded from the cache file", "channel", l.Name, "last_seq", n)
		}
	}
}

// Run follows the channels and serves the cache on ln (secure channels
// under key) until ctx ends; then it saves the cache a last time and
// returns once every goroutine ended.
func (m *Mirror) Run(ctx context.Context, ln net.Listener, key *securechan.ServerKey) error {
	var wg sync.WaitGroup
	for _, l := range m.cfg.Links {
		wg.Go(func() { m.follow(ctx, l) })
	}
	if m.cfg.CachePath != "" {
		wg.Go(func() { m.saveLoop(ctx) })
	}
	err := channelwire.Serve(ctx, ln, key, m.cache)
	wg.Wait()
	return err
}

// follow keeps one channel's cache current, reconnecting to its server
// with a backoff (1 s doubling to 30 s) whenever the server drops.
func (m *Mirror) follow(ctx context.Context, link client.ChannelLink) {
	backoff := time.Second
	for ctx.Err() == nil {
		began := time.Now()
		err := m.session(ctx, link)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = time.Second
		}
		m.log.Warn("channel mirror: the channel's server is unreachable; serving the cache and retrying",
			"channel", link.Name, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// insert verifies and caches one post; a post that does not verify is
// logged (never its content) and dropped.
func (m *Mirror) insert(link client.ChannelLink, b []byte) error {
	if err := m.cache.Insert(b); err != nil {
		m.log.Warn("channel mirror: refused a post that does not verify", "channel", link.Name, "err", err)
		return err
	}
	select {
	case m.dirty <- struct{}{}:
	default:
	}
	return nil
}

// saveLoop writes the cache file at most once a second while posts come
// in, and once more when ctx ends.
func (m *Mirror) saveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			select {
			case <-m.dirty:
				m.save()
			default:
			}
			return
		case <-m.dirty:
		}
		m.save()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// save replaces the cache file atomically (write, sync, rename).
func (m *Mirror) save() {
	b, err := m.cache.MarshalBinary()
	if err == nil {
		err = atomicfile.Write(m.cfg.CachePath, b, 0o600)
	}
	if err != nil {
		m.log.Warn("channel mirror: saving the cache file", "err", err)
	}
}

// ParseLinks parses channel links (the text 'samizdat channel link NAME'
// prints), dropping repeats of the same channel.
func ParseLinks(ss []string) ([]client.ChannelLink, error) {
	var out []client.ChannelLink
	seen := map[wire.ChannelID]bool{}
	for _, s := range ss {
		l, err := client.ParseChannelLink(s)
		if err != nil {
			return nil, fmt.Errorf("mirror: %w", err)
		}
		if !seen[l.ID()] {
			seen[l.ID()] = true
			out = append(out, l)
		}
	}
	return out, nil
}
