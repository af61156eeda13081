package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/samizdat-project/samizdat/store"
)

// maxChannelSeq bounds the seqs and counts the channel calls accept, as
// store/sqlite does.
const maxChannelSeq = 1 << 62

// CreateChannel implements store.ChannelStore.
func (s *Store) CreateChannel(ctx context.Context, id store.ChannelID, descriptor []byte) error {
	if len(descriptor) == 0 || len(descriptor) > store.MaxChannelDescriptor {
		return fmt.Errorf("postgres: doing create channel: descriptor of %d bytes: %w", len(descriptor), store.ErrInvalid)
	}
	if err := s.check("create channel"); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO channels (channel_id, descriptor, created_at) VALUES ($1, $2, $3) ON CONFLICT (channel_id) DO NOTHING`,
		id[:], descriptor, s.unix())
	if err != nil {
		return s.wrap("create channel", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var have []byte
	if err := s.pool.QueryRow(ctx, `SELECT descriptor FROM channels WHERE channel_id = $1`, id[:]).Scan(&have); err != nil {
		return s.wrap("create channel", err)
	}
	if !bytes.Equal(have, descriptor) {
		return fmt.Errorf("postgres: doing create channel: %w", store.ErrDuplicate)
	}
	return nil
}

// Channel implements store.ChannelStore.
func (s *Store) Channel(ctx context.Context, id store.ChannelID) ([]byte, uint64, error) {
	last, d, err := s.numberAndBlob(ctx, "channel lookup", `SELECT last_seq, descriptor FROM channels WHERE channel_id = ?`, id[:]) // devicelists.go
	return d, last, err
}

// AppendChannelPost implements store.ChannelStore. The channel row is
// locked, so of concurrent posts for one seq exactly one is stored.
func (s *Store) AppendChannelPost(ctx context.Context, id store.ChannelID, seq uint64, post []byte, revokedAdmin []byte) error {
	if len(post) == 0 || len(post) > store.MaxChannelPost || seq == 0 || seq > maxChannelSeq {
		return fmt.Errorf("postgres: doing append channel post: %w", store.ErrInvalid)
	}
	now := s.unix()
	return s.inTx(ctx, "append channel post", func(tx pgx.Tx) (bool, error) {
		var last int64
		err := tx.QueryRow(ctx, `SELECT last_seq FROM channels WHERE channel_id = $1 FOR UPDATE`, id[:]).Scan(&last)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("postgres: doing append channel post: %w", store.ErrNotFound)
		}
		if err != nil {
			return false, s.wrap("append channel post", err)
		}
		if uint64(last)+1 != seq {
			return false, fmt.Errorf("postgres: doing append channel post: %w", &store.ChannelSeqError{Last: uint64(last), Sent: seq})
		}
		if _, err := tx.Exec(ctx, `INSERT INTO channel_posts (channel_id, seq, post, posted_at) VALUES ($1, $2, $3, $4)`, id[:], int64(seq), post, now); err != nil {
			return false, s.wrap("append channel post", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE channels SET last_seq = $2 WHERE channel_id = $1`, id[:], int64(seq)); err != nil {
			return false, s.wrap("append channel post", err)
		}
		if revokedAdmin != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO channel_revocations (channel_id, admin_key, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				id[:], revokedAdmin, int64(seq)); err != nil {
				return false, s.wrap("append channel post", err)
			}
		}
		return true, nil
	})
}

// ChannelPosts implements store.ChannelStore.
func (s *Store) ChannelPosts(ctx context.Context, id store.ChannelID, afterSeq uint64, limit int) ([]store.ChannelPost, error) {
	if err := store.ValidateLimit(limit); err != nil {
		return nil, err
	}
	if err := s.check("channel posts"); err != nil {
		return nil, err
	}
	return s.on(s.pool).ChannelPosts(ctx, id, afterSeq, limit)
}

// ChannelRevocations implements store.ChannelStore.
func (s *Store) ChannelRevocations(ctx context.Context, id store.ChannelID) (map[[32]byte]uint64, error) {
	if err := s.check("channel revocations"); err != nil {
		return nil, err
	}
	return s.on(s.pool).ChannelRevocations(ctx, id)
}

// AddChannelViews implements store.ChannelStore: one UPDATE adds every
// count (unknown seqs match no row).
func (s *Store) AddChannelViews(ctx context.Context, id store.ChannelID, counts map[uint64]uint64) error {
	if len(counts) == 0 {
		return nil
	}
	seqs := make([]int64, 0, len(counts))
	for seq, n := range counts {
		if seq <= maxChannelSeq && n <= 1<<40 {
			seqs = append(seqs, int64(seq))
		}
	}
	slices.Sort(seqs)
	adds := make([]int64, len(seqs))
	for i, seq := range seqs {
		adds[i] = int64(counts[uint64(seq)])
	}
	// In a transaction of its own, so that the rare deadlock of two calls
	// locking the same posts in another order is retried.
	return s.inTx(ctx, "add channel views", func(tx pgx.Tx) (bool, error) {
		_, err := tx.Exec(ctx, `UPDATE channel_posts AS p SET views = p.views + u.n
			FROM unnest($2::bigint[], $3::bigint[]) AS u(seq, n)
			WHERE p.channel_id = $1 AND p.seq = u.seq`, id[:], seqs, adds)
		if err != nil {
			return false, s.wrap("add channel views", err)
		}
		return true, nil
	})
}

// ChannelViews implements store.ChannelStore.
func (s *Store) ChannelViews(ctx context.Context, id store.ChannelID, seqs []uint64) (map[uint64]uint64, error) {
	if err := s.check("channel views"); err != nil {
		return nil, err
	}
	want := make([]int64, 0, len(seqs))
	for _, seq := range seqs {
		if seq <= maxChannelSeq {
			want = append(want, int64(seq))
		}
	}
	out := make(map[uint64]uint64, len(want))
	rows, err := s.pool.Query(ctx, `SELECT seq, views FROM channel_posts WHERE channel_id = $1 AND seq = ANY($2)`, id[:], want)
	if err != nil {
		return nil, s.wrap("channel views", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, v int64
		if err := rows.Scan(&seq, &v); err != nil {
			return nil, s.wrap("channel views", err)
		}
		out[uint64(seq)] = uint64(v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("channel views", err)
	}
	return out, nil
}
