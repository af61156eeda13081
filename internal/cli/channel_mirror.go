package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/channel/channelwire"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Files of a relay that mirrors channels, in its --state directory.
const (
	channelMirrorKeyFile   = "channel-mirror.key" // the mirror listener's secure-channel key (0600)
	channelMirrorCacheFile = "channels.cache"     // the mirrored channels' signed posts (public)
)

// channelMirror is the channel side of 'samizdat relay --mirror-channel':
// it follows each mirrored channel on the channel's server (subscribe,
// catch up, reconnect in the background), keeps a verified channel.Cache
// of its recent posts, saves it to a file so that a restarted relay still
// serves while the server is blocked, and answers FetchChannel and
// FetchChannelPosts from it on a listener of its own (channelwire).
// Channels are public: the cache holds descriptors and signed posts, and
// nothing about the readers.
type channelMirror struct {
	links      []client.ChannelLink
	perChannel int
	cache      *channel.Cache
	path       string // the cache file; "" keeps the cache in memory
	log        *slog.Logger
	dirty      chan struct{} // 1-buffered: the cache changed since the last save
}

// newChannelMirror makes the mirror of links and loads the cache file at
// path, if any. Entries of the file that do not verify are refused (and
// logged); a damaged file is logged and what loaded before the damage is
// served.
func newChannelMirror(links []client.ChannelLink, perChannel int, path string, log *slog.Logger) *channelMirror {
	m := &channelMirror{links: links, perChannel: perChannel, cache: channel.NewCache(perChannel, len(links)),
		path: path, log: log, dirty: make(chan struct{}, 1)}
	if path == "" {
		return m
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m
	}
	if err != nil {
		log.Warn("channel mirror: cannot read the cache file; starting empty", "err", err)
		return m
	}
	ids := map[channel.ID]bool{}
	for _, l := range links {
		ids[channel.ID(l.ID())] = true
	}
	refused, why, err := m.cache.Load(b, func(id channel.ID) bool { return ids[id] })
	if refused > 0 {
		log.Warn("channel mirror: refused entries of the cache file that do not verify", "refused", refused, "first", why)
	}
	if err != nil {
		log.Warn("channel mirror: the cache file is damaged; serving what loaded", "err", err)
	}
	for _, l := range links {
		if n := m.cache.LastSeq(channel.ID(l.ID())); n > 0 {
			log.Info("channel mirror: loaded from the cache file", "channel", l.Name, "last_seq", n)
		}
	}
	return m
}

// run follows the channels and serves the cache on ln until ctx ends; then
// it saves the cache a last time and returns once every goroutine ended.
func (m *channelMirror) run(ctx context.Context, ln net.Listener, key *securechan.ServerKey) error {
	var wg sync.WaitGroup
	for _, l := range m.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.follow(ctx, l)
		}()
	}
	if m.path != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.saveLoop(ctx)
		}()
	}
	err := channelwire.Serve(ctx, ln, key, m.cache)
	wg.Wait()
	return err
}

// follow keeps one channel's cache current, reconnecting to its server
// with a backoff (1 s doubling to 30 s) whenever the server drops.
func (m *channelMirror) follow(ctx context.Context, link client.ChannelLink) {
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

// session is one connection to the channel's server: it checks the
// descriptor against the link's owner key, subscribes, catches up from the
// cache's last post and then takes pushes until the connection ends.
func (m *channelMirror) session(ctx context.Context, link client.ChannelLink) error {
	id := link.ID()
	var mu sync.Mutex
	var cursor uint64 // every post up to cursor was fetched or pushed
	kick := make(chan struct{}, 1)
	onPush := func(p *wire.ChannelPush) {
		if p.Channel != id {
			return
		}
		gap := false
		mu.Lock()
		for _, b := range p.Posts {
			_, seq, ok := channel.PeekSeq(b)
			if !ok || m.insert(link, b) != nil {
				continue
			}
			if seq == cursor+1 {
				cursor = seq
			} else if seq > cursor+1 {
				gap = true
			}
		}
		mu.Unlock()
		if gap {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
	conn, err := client.DialChannels(ctx, client.TCPDialer, link.Server, client.NewReaderKey(), onPush)
	if err != nil {
		return err
	}
	defer conn.Close()
	info, err := conn.Info(ctx, id)
	if err != nil {
		return fmt.Errorf("fetching the channel: %w", err)
	}
	d, err := channel.DecodeDescriptor(info.Descriptor)
	if err != nil {
		return fmt.Errorf("the server's descriptor: %w", err)
	}
	if d.Owner != link.Owner {
		return errors.New("the server's descriptor has another owner key than the channel link; check --mirror-channel")
	}
	if _, err := m.cache.AddChannel(info.Descriptor); err != nil {
		return err
	}
	start := m.cache.LastSeq(channel.ID(id))
	if w := uint64(m.perChannel); info.LastSeq > w && info.LastSeq-w > start {
		start = info.LastSeq - w // older posts would not stay in the cache
	}
	mu.Lock()
	cursor = start
	mu.Unlock()
	if err := conn.Subscribe(ctx, id); err != nil {
		return fmt.Errorf("subscribing: %w", err)
	}
	catchUp := func() error {
		for {
			mu.Lock()
			after := cursor
			mu.Unlock()
			posts, more, err := conn.Fetch(ctx, id, after, wire.MaxChannelBatch)
			if err != nil {
				return fmt.Errorf("catching up: %w", err)
			}
			next := after
			for _, b := range posts {
				if _, seq, ok := channel.PeekSeq(b); ok && m.insert(link, b) == nil {
					next = max(next, seq)
				}
			}
			mu.Lock()
			cursor = max(cursor, next)
			mu.Unlock()
			if !more || next == after {
				return nil
			}
		}
	}
	if err := catchUp(); err != nil {
		return err
	}
	m.log.Info("channel mirror: following", "channel", link.Name, "last_seq", m.cache.LastSeq(channel.ID(id)))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.Done():
			return conn.Err()
		case <-kick:
			if err := catchUp(); err != nil {
				return err
			}
		}
	}
}

// insert verifies and caches one post; a post that does not verify is
// logged (never its content) and dropped.
func (m *channelMirror) insert(link client.ChannelLink, b []byte) error {
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
func (m *channelMirror) saveLoop(ctx context.Context) {
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
func (m *channelMirror) save() {
	b, err := m.cache.MarshalBinary()
	if err == nil {
		err = atomicfile.Write(m.path, b, 0o600)
	}
	if err != nil {
		m.log.Warn("channel mirror: saving the cache file", "err", err)
	}
}

// mirrorLinks parses the --mirror-channel links.
func mirrorLinks(ss []string) ([]client.ChannelLink, error) {
	var out []client.ChannelLink
	seen := map[wire.ChannelID]bool{}
	for _, s := range ss {
		l, err := client.ParseChannelLink(s)
		if err != nil {
			return nil, fmt.Errorf("--mirror-channel: %w (give the link 'samizdat channel link NAME' prints)", err)
		}
		if !seen[l.ID()] {
			seen[l.ID()] = true
			out = append(out, l)
		}
	}
	return out, nil
}

// startChannelMirror listens for followers, prints the mirror link and
// each mirrored channel's link with the mirror in it, and runs the mirror
// in the background; the returned channel yields run's result.
func startChannelMirror(ctx context.Context, e env, log *slog.Logger, f relayFlags) (<-chan error, error) {
	links, err := mirrorLinks(f.mirrorChannels)
	if err != nil {
		return nil, err
	}
	key, err := loadOrCreateServerKey(filepath.Join(f.state, channelMirrorKeyFile))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", f.channelListen)
	if err != nil {
		return nil, fmt.Errorf("listening for channel followers on %s: %w", f.channelListen, err)
	}
	public := f.channelPublic
	if public == "" {
		public = ln.Addr().String()
	}
	m := newChannelMirror(links, f.mirrorPosts, filepath.Join(f.state, channelMirrorCacheFile), log)
	ml := client.ServerLink{Key: key.Public(), Addrs: []string{public}}
	fmt.Fprintf(e.stdout, "channel mirror listening on %s\nchannel mirror link: %s\n", ln.Addr(), ml)
	for _, l := range links {
		fmt.Fprintf(e.stdout, "mirrored channel %q: %s\n", l.Name, withRelay(l, ml))
	}
	fmt.Fprintln(e.stdout, "Followers who follow a channel through its mirrored link (or with --mirror) read it here while its server is unreachable.")
	done := make(chan error, 1)
	go func() { done <- m.run(ctx, ln, key) }()
	return done, nil
}
