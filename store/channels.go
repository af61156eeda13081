package store

import (
	"context"
	"errors"
	"fmt"
)

// ChannelID is SHA-256 of a broadcast channel's owner key.
type ChannelID [32]byte

// ErrChannelSeq: a channel post was not the channel's next one.
var ErrChannelSeq = errors.New("not the channel's next post")

// ChannelSeqError is the error of AppendChannelPost for a seq that is not
// last+1. errors.Is(err, ErrChannelSeq) holds.
type ChannelSeqError struct {
	Last uint64 // the channel's last seq now
	Sent uint64
}

func (e *ChannelSeqError) Error() string {
	return fmt.Sprintf("channel post %d rejected, the channel is at post %d: %v", e.Sent, e.Last, ErrChannelSeq)
}

func (e *ChannelSeqError) Is(target error) bool { return target == ErrChannelSeq }

// Channel limits every ChannelStore enforces.
const (
	MaxChannelDescriptor = 4096
	MaxChannelPost       = 64 << 10
)

// ChannelPost is one stored post: its seq and its signed encoding (public).
type ChannelPost struct {
	Seq  uint64
	Post []byte
}

// ChannelStore keeps broadcast channels: public, signed descriptors and
// posts, and per-post view counters (counts only: no viewer is stored).
// The server verifies signatures before it calls the store.
type ChannelStore interface {
	// CreateChannel stores a channel's descriptor. The same descriptor
	// again is not an error; another one for the same id is ErrDuplicate.
	CreateChannel(ctx context.Context, id ChannelID, descriptor []byte) error
	// Channel returns the descriptor and last seq, or ErrNotFound.
	Channel(ctx context.Context, id ChannelID) (descriptor []byte, lastSeq uint64, err error)
	// AppendChannelPost durably stores post as seq, which must be the
	// channel's last seq + 1 (else *ChannelSeqError). revokedAdmin, if not
	// nil, is the admin key the post revokes. Unknown channel: ErrNotFound.
	AppendChannelPost(ctx context.Context, id ChannelID, seq uint64, post []byte, revokedAdmin []byte) error
	// ChannelPosts returns up to limit posts with seq > afterSeq in order.
	ChannelPosts(ctx context.Context, id ChannelID, afterSeq uint64, limit int) ([]ChannelPost, error)
	// ChannelRevocations returns the revoked admin keys and the seq of the
	// post that revoked each.
	ChannelRevocations(ctx context.Context, id ChannelID) (map[[32]byte]uint64, error)
	// AddChannelViews adds counts to the view counters of existing posts
	// (unknown seqs are ignored).
	AddChannelViews(ctx context.Context, id ChannelID, counts map[uint64]uint64) error
	// ChannelViews returns the view counts of the existing posts among seqs.
	ChannelViews(ctx context.Context, id ChannelID, seqs []uint64) (map[uint64]uint64, error)
}
