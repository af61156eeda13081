package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

// session is one connection to a channel's server.
type session struct {
	m    *Mirror
	link client.ChannelLink
	id   wire.ChannelID
	conn *client.ChannelConn

	mu     sync.Mutex
	cursor uint64        // every post up to cursor was fetched or pushed
	kick   chan struct{} // 1-buffered: a push skipped posts; catch up
}

// session checks the descriptor against the link's owner key, subscribes,
// catches up from the cache's last post and then takes pushes until the
// connection ends.
func (m *Mirror) session(ctx context.Context, link client.ChannelLink) error {
	s := &session{m: m, link: link, id: link.ID(), kick: make(chan struct{}, 1)}
	conn, err := client.DialChannels(ctx, m.cfg.Dial, link.Server, client.NewReaderKey(), s.onPush)
	if err != nil {
		return err
	}
	defer conn.Close()
	s.conn = conn
	if err := s.start(ctx); err != nil {
		return err
	}
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	m.log.Info("channel mirror: following", "channel", link.Name, "last_seq", m.cache.LastSeq(channel.ID(s.id)))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.Done():
			return conn.Err()
		case <-s.kick:
			if err := s.catchUp(ctx); err != nil {
				return err
			}
		}
	}
}

// start checks the server's descriptor, adds the channel to the cache,
// sets the cursor where catching up begins, and subscribes.
func (s *session) start(ctx context.Context) error {
	info, err := s.conn.Info(ctx, s.id)
	if err != nil {
		return fmt.Errorf("mirror: fetching the channel: %w", err)
	}
	d, err := channel.DecodeDescriptor(info.Descriptor)
	if err != nil {
		return fmt.Errorf("mirror: the server's descriptor: %w", err)
	}
	if d.Owner != s.link.Owner {
		return errors.New("mirror: the server's descriptor has another owner key than the channel link; check the link")
	}
	if _, err := s.m.cache.AddChannel(info.Descriptor); err != nil {
		return fmt.Errorf("mirror: caching the descriptor: %w", err)
	}
	start := s.m.cache.LastSeq(channel.ID(s.id))
	if w := uint64(s.m.cfg.PerChannel); info.LastSeq > w && info.LastSeq-w > start {
		start = info.LastSeq - w // older posts would not stay in the cache
	}
	s.mu.Lock()
	s.cursor = start
	s.mu.Unlock()
	if err := s.conn.Subscribe(ctx, s.id); err != nil {
		return fmt.Errorf("mirror: subscribing: %w", err)
	}
	return nil
}

// onPush caches pushed posts; a push past the cursor's next post (a gap)
// kicks a catch-up.
func (s *session) onPush(p *wire.ChannelPush) {
	if p.Channel != s.id {
		return
	}
	gap := false
	s.mu.Lock()
	for _, b := range p.Posts {
		_, seq, ok := channel.PeekSeq(b)
		if !ok || s.m.insert(s.link, b) != nil {
			continue
		}
		if seq == s.cursor+1 {
			s.cursor = seq
		} else if seq > s.cursor+1 {
			gap = true
		}
	}
	s.mu.Unlock()
	if gap {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// catchUp fetches every post after the cursor, a batch at a time.
func (s *session) catchUp(ctx context.Context) error {
	for {
		s.mu.Lock()
		after := s.cursor
		s.mu.Unlock()
		posts, more, err := s.conn.Fetch(ctx, s.id, after, wire.MaxChannelBatch)
		if err != nil {
			return fmt.Errorf("mirror: catching up: %w", err)
		}
		next := after
		for _, b := range posts {
			if _, seq, ok := channel.PeekSeq(b); ok && s.m.insert(s.link, b) == nil {
				next = max(next, seq)
			}
		}
		s.mu.Lock()
		s.cursor = max(s.cursor, next)
		s.mu.Unlock()
		if !more || next == after {
			return nil
		}
	}
}
