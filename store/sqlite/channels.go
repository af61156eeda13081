package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/store"
)

// channelMigrations are the broadcast-channel tables, versioned on their own
// (channel_schema_version) so that they evolve apart from the messaging
// core's schema. Append; never edit a released step. Every table and column
// is described in docs/what-the-server-knows.md.
var channelMigrations = []string{
	// 1: channels, posts with view counters, admin revocations.
	`
CREATE TABLE channels (
	channel_id BLOB PRIMARY KEY,
	descriptor BLOB NOT NULL,
	last_seq   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE channel_posts (
	channel_id BLOB NOT NULL,
	seq        INTEGER NOT NULL,
	post       BLOB NOT NULL,
	views      INTEGER NOT NULL DEFAULT 0,
	posted_at  INTEGER NOT NULL,
	PRIMARY KEY (channel_id, seq)
) WITHOUT ROWID;

CREATE TABLE channel_revocations (
	channel_id BLOB NOT NULL,
	admin_key  BLOB NOT NULL,
	seq        INTEGER NOT NULL,
	PRIMARY KEY (channel_id, admin_key)
) WITHOUT ROWID;
`,
}

// migrateChannels brings the channel tables to the newest version. Open
// calls it after the core migration.
func migrateChannels(ctx context.Context, db *sql.DB) error {
	return runMigrations(ctx, db, "channel_schema_version", channelMigrations) // schema.go
}

var _ store.ChannelStore = (*Store)(nil)

// CreateChannel implements store.ChannelStore.
func (s *Store) CreateChannel(ctx context.Context, id store.ChannelID, descriptor []byte) error {
	if len(descriptor) == 0 || len(descriptor) > store.MaxChannelDescriptor {
		return fmt.Errorf("store: doing create channel: descriptor of %d bytes: %w", len(descriptor), store.ErrInvalid)
	}
	now := s.unix()
	return s.w.do(ctx, "create channel", func(ctx context.Context, c *sql.Conn) error {
		var have []byte
		err := c.QueryRowContext(ctx, `SELECT descriptor FROM channels WHERE channel_id = ?`, id[:]).Scan(&have)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = c.ExecContext(ctx, `INSERT INTO channels (channel_id, descriptor, created_at) VALUES (?, ?, ?)`, id[:], descriptor, now)
		case err == nil && !bytes.Equal(have, descriptor):
			return fmt.Errorf("store: doing create channel: %w", store.ErrDuplicate)
		}
		if err != nil {
			return fmt.Errorf("store: doing create channel: %w", err)
		}
		return nil
	})
}

// Channel implements store.ChannelStore.
func (s *Store) Channel(ctx context.Context, id store.ChannelID) ([]byte, uint64, error) {
	last, d, err := s.numberAndBlob(ctx, "channel lookup", `SELECT last_seq, descriptor FROM channels WHERE channel_id = ?`, id[:]) // devicelists.go
	return d, last, err
}

// AppendChannelPost implements store.ChannelStore.
func (s *Store) AppendChannelPost(ctx context.Context, id store.ChannelID, seq uint64, post []byte, revokedAdmin []byte) error {
	if len(post) == 0 || len(post) > store.MaxChannelPost || seq == 0 || seq > 1<<62 {
		return fmt.Errorf("store: doing append channel post: %w", store.ErrInvalid)
	}
	now := s.unix()
	return s.w.do(ctx, "append channel post", func(ctx context.Context, c *sql.Conn) error {
		var last int64
		err := c.QueryRowContext(ctx, `SELECT last_seq FROM channels WHERE channel_id = ?`, id[:]).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: doing append channel post: %w", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: doing append channel post: %w", err)
		}
		if uint64(last)+1 != seq {
			return fmt.Errorf("store: doing append channel post: %w", &store.ChannelSeqError{Last: uint64(last), Sent: seq})
		}
		if _, err := c.ExecContext(ctx, `INSERT INTO channel_posts (channel_id, seq, post, posted_at) VALUES (?, ?, ?, ?)`, id[:], int64(seq), post, now); err != nil {
			return fmt.Errorf("store: doing append channel post: %w", err)
		}
		if _, err := c.ExecContext(ctx, `UPDATE channels SET last_seq = ? WHERE channel_id = ?`, int64(seq), id[:]); err != nil {
			return fmt.Errorf("store: doing append channel post: %w", err)
		}
		if revokedAdmin != nil {
			if _, err := c.ExecContext(ctx, `INSERT OR IGNORE INTO channel_revocations (channel_id, admin_key, seq) VALUES (?, ?, ?)`, id[:], revokedAdmin, int64(seq)); err != nil {
				return fmt.Errorf("store: doing append channel post: %w", err)
			}
		}
		return nil
	})
}

// ChannelPosts implements store.ChannelStore.
func (s *Store) ChannelPosts(ctx context.Context, id store.ChannelID, afterSeq uint64, limit int) ([]store.ChannelPost, error) {
	if err := store.ValidateLimit(limit); err != nil {
		return nil, err
	}
	return on(s.read).ChannelPosts(ctx, id, afterSeq, limit)
}

// ChannelRevocations implements store.ChannelStore.
func (s *Store) ChannelRevocations(ctx context.Context, id store.ChannelID) (map[[32]byte]uint64, error) {
	return on(s.read).ChannelRevocations(ctx, id)
}

// AddChannelViews implements store.ChannelStore.
func (s *Store) AddChannelViews(ctx context.Context, id store.ChannelID, counts map[uint64]uint64) error {
	if len(counts) == 0 {
		return nil
	}
	return s.w.do(ctx, "add channel views", func(ctx context.Context, c *sql.Conn) error {
		for seq, n := range counts {
			if seq > 1<<62 || n > 1<<40 {
				continue
			}
			if _, err := c.ExecContext(ctx, `UPDATE channel_posts SET views = views + ? WHERE channel_id = ? AND seq = ?`, int64(n), id[:], int64(seq)); err != nil {
				return fmt.Errorf("store: doing add channel views: %w", err)
			}
		}
		return nil
	})
}

// ChannelViews implements store.ChannelStore.
func (s *Store) ChannelViews(ctx context.Context, id store.ChannelID, seqs []uint64) (map[uint64]uint64, error) {
	out := make(map[uint64]uint64, len(seqs))
	for _, seq := range seqs {
		if seq > 1<<62 {
			continue
		}
		var v int64
		err := s.read.QueryRowContext(ctx, `SELECT views FROM channel_posts WHERE channel_id = ? AND seq = ?`, id[:], int64(seq)).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: doing channel views: %w", err)
		}
		out[seq] = uint64(v)
	}
	return out, nil
}
