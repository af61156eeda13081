package mirror

import (
	"context"
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

// MediaStore keeps the media chunks a mirror fetched, by the SHA-256 of
// their bytes (store/blobfs is one; the CLI keeps it in --state).
// GetChunk's error wraps fs.ErrNotExist for a chunk it does not hold.
type MediaStore interface {
	HasChunk(ctx context.Context, h [32]byte) (bool, error)
	PutChunk(ctx context.Context, h [32]byte, data []byte) error
	GetChunk(ctx context.Context, h [32]byte) ([]byte, error)
}

// DefaultMaxMediaFile is the largest file (its true size, from the signed
// post) a mirror fetches when Config.MaxMediaFile is 0.
const DefaultMaxMediaFile = 100 << 20

func (m *Mirror) maxMediaFile() int64 {
	if m.cfg.MaxMediaFile > 0 {
		return m.cfg.MaxMediaFile
	}
	return DefaultMaxMediaFile
}

// kickMedia asks the session's media loop to look for chunks to fetch.
func (s *session) kickMedia() {
	select {
	case s.media <- struct{}{}:
	default:
	}
}

// mediaLoop fetches the media of the cached posts each time it is kicked,
// until ctx ends.
func (s *session) mediaLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.media:
		}
		if err := s.fetchMedia(ctx); err != nil && ctx.Err() == nil {
			s.m.log.Warn("channel mirror: fetching media", "channel", s.link.Name, "err", err)
		}
	}
}

// fetchMedia walks the channel's cached posts and fetches every chunk of
// their media the store lacks (docs/spec/channels.md §5), skipping posts
// the owner deleted. Each chunk is checked against its hash in the signed
// post before it is stored: a chunk the server serves that does not match
// is refused, logged, and never served by the mirror.
func (s *session) fetchMedia(ctx context.Context) error {
	if s.m.cfg.Media == nil {
		return nil
	}
	media, deleted := s.cachedMedia()
	var refused error
	for _, p := range media {
		if deleted[p.Seq] {
			continue
		}
		if err := s.fetchPostMedia(ctx, p); err != nil {
			if !errors.Is(err, client.ErrChunkMismatch) {
				return err
			}
			refused = err
		}
	}
	return refused
}

// cachedMedia returns the channel's cached media posts and the seqs that
// cached delete posts name.
func (s *session) cachedMedia() (media []*channel.Post, deleted map[uint64]bool) {
	deleted = map[uint64]bool{}
	for after := uint64(0); ; {
		posts, more, err := s.m.cache.After(channel.ID(s.id), after, wire.MaxChannelBatch)
		if err != nil || len(posts) == 0 {
			return media, deleted
		}
		for _, b := range posts {
			p, err := channel.DecodePost(b) // the cache verified it on insert
			if err != nil {
				continue
			}
			after = max(after, p.Seq)
			switch p.Kind {
			case channel.KindMedia:
				media = append(media, p)
			case channel.KindDelete:
				deleted[p.Target] = true
			}
		}
		if !more {
			return media, deleted
		}
	}
}

// fetchPostMedia fetches the chunks of one media post the store lacks.
func (s *session) fetchPostMedia(ctx context.Context, p *channel.Post) error {
	_, a, err := p.Media()
	if err != nil {
		return nil // the cache verified the post; cannot happen
	}
	if a.Size > s.m.maxMediaFile() {
		s.m.log.Info("channel mirror: not mirroring a file over the size limit", "channel", s.link.Name, "seq", p.Seq, "size", a.Size)
		return nil
	}
	store := s.m.cfg.Media
	for i, h := range a.Chunks {
		have, err := store.HasChunk(ctx, h)
		if err != nil {
			return fmt.Errorf("mirror: media store: %w", err)
		}
		if have {
			continue
		}
		data, err := s.conn.GetChunk(ctx, h)
		if errors.Is(err, client.ErrChunkMismatch) {
			s.m.mediaRefused.Add(1)
			s.m.log.Warn("channel mirror: the server served a chunk that does not match the signed post; refused",
				"channel", s.link.Name, "seq", p.Seq, "chunk", i)
			return fmt.Errorf("mirror: post %d chunk %d: %w", p.Seq, i, err)
		}
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CodeNotFound {
			s.m.log.Info("channel mirror: the server does not have a chunk of a post's media", "channel", s.link.Name, "seq", p.Seq, "chunk", i)
			return nil
		}
		if err != nil {
			return fmt.Errorf("mirror: fetching post %d chunk %d: %w", p.Seq, i, err)
		}
		if err := store.PutChunk(ctx, h, data); err != nil {
			return fmt.Errorf("mirror: media store: %w", err)
		}
		s.m.mediaStored.Add(1)
	}
	return nil
}
