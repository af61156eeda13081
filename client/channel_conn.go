package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/wire"
)

// ChannelConn is a connection for broadcast channels to a server or to a
// relay that serves channels from its cache. Channels are public, so it
// needs no account: any device key will do (NewReaderKey makes a throwaway
// one, which is what readers should use so that following a channel is not
// linked to their account). Its methods are safe for concurrent use.
type ChannelConn struct {
	s *Session
}

// NewReaderKey returns a fresh, throwaway device key for reading channels.
func NewReaderKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

// DialChannels connects to the first address of link that answers, pins
// its key, and says hello. onPush, if not nil, receives ChannelPush frames
// in order from the connection's reader goroutine (it must not block long).
func DialChannels(ctx context.Context, dial Dialer, link ServerLink, device ed25519.PrivateKey, onPush func(*wire.ChannelPush)) (*ChannelConn, error) {
	if dial == nil {
		dial = TCPDialer
	}
	onFrame := func(f wire.Frame) (bool, error) {
		if p, ok := f.Msg.(*wire.ChannelPush); ok {
			if onPush != nil {
				onPush(p)
			}
			return true, nil
		}
		if e, ok := f.Msg.(*wire.Error); ok && f.RequestID == 0 {
			return true, fmt.Errorf("client: server closed the connection: %s", e.Code.Text())
		}
		return false, nil // other pushes (Deliver) are not for this connection
	}
	var lastErr error = ErrOffline
	for _, addr := range link.Addrs {
		s, err := handshakeAt(ctx, dial, addr, SessionConfig{ServerPublic: link.Key, DeviceKey: device, OnFrame: onFrame}) // session.go
		if err != nil {
			lastErr = err
			continue
		}
		c := &ChannelConn{s: s}
		if _, err := s.Hello(ctx); err != nil {
			c.Close()
			lastErr = fmt.Errorf("client: hello to %s: %w", addr, err)
			continue
		}
		return c, nil
	}
	return nil, lastErr
}

func (c *ChannelConn) call(ctx context.Context, req wire.Message) (wire.Message, error) {
	return c.s.Call(ctx, req)
}

// Err returns why the connection ended, or nil while it works.
func (c *ChannelConn) Err() error { return c.s.Err() }

// Done is closed when the connection ends.
func (c *ChannelConn) Done() <-chan struct{} { return c.s.Done() }

// Close closes the connection.
func (c *ChannelConn) Close() error {
	c.s.End(errors.New("client: closed"))
	return nil
}

// CreateChannel registers an encoded, owner-signed descriptor.
func (c *ChannelConn) CreateChannel(ctx context.Context, descriptor []byte) error {
	_, err := c.call(ctx, &wire.CreateChannel{Descriptor: descriptor})
	return err
}

// Post sends an encoded, signed post. A post that is not the channel's next
// one fails with a *wire.Error of code StaleEpoch whose CurrentEpoch is the
// channel's last seq.
func (c *ChannelConn) Post(ctx context.Context, post []byte) error {
	_, err := c.call(ctx, &wire.PostToChannel{Post: post})
	return err
}

// Info returns the channel's encoded descriptor and last seq.
func (c *ChannelConn) Info(ctx context.Context, id wire.ChannelID) (*wire.ChannelInfo, error) {
	m, err := c.call(ctx, &wire.FetchChannel{Channel: id})
	if err != nil {
		return nil, err
	}
	return m.(*wire.ChannelInfo), nil
}

// Fetch returns up to limit encoded posts after afterSeq, and whether more follow.
func (c *ChannelConn) Fetch(ctx context.Context, id wire.ChannelID, afterSeq uint64, limit int) ([][]byte, bool, error) {
	limit = min(max(limit, 1), wire.MaxChannelBatch)
	m, err := c.call(ctx, &wire.FetchChannelPosts{Channel: id, AfterSeq: afterSeq, Limit: uint16(limit)})
	if err != nil {
		return nil, false, err
	}
	p := m.(*wire.ChannelPosts)
	return p.Posts, p.More, nil
}

// Subscribe asks for pushes of the channel's new posts.
func (c *ChannelConn) Subscribe(ctx context.Context, id wire.ChannelID) error {
	_, err := c.call(ctx, &wire.SubscribeChannel{Channel: id})
	return err
}

// RecordViews counts one view of each seq (once per connection).
func (c *ChannelConn) RecordViews(ctx context.Context, id wire.ChannelID, seqs []uint64) error {
	_, err := c.call(ctx, &wire.RecordViews{Channel: id, Seqs: seqs})
	return err
}

// ViewCounts returns the view counts of seqs.
func (c *ChannelConn) ViewCounts(ctx context.Context, id wire.ChannelID, seqs []uint64) (map[uint64]uint64, error) {
	m, err := c.call(ctx, &wire.FetchViewCounts{Channel: id, Seqs: seqs})
	if err != nil {
		return nil, err
	}
	out := map[uint64]uint64{}
	for _, v := range m.(*wire.ViewCounts).Counts {
		out[v.Seq] = v.Views
	}
	return out, nil
}

// ErrChunkMismatch: a server or mirror answered GetChunk with bytes that
// do not hash to the address asked for (docs/spec/channels.md §3a).
var ErrChunkMismatch = errors.New("client: the chunk served does not match its hash in the signed post; refused")

// GetChunk fetches the media chunk addressed by h (the SHA-256 of its
// bytes) and checks the bytes against h before returning them.
func (c *ChannelConn) GetChunk(ctx context.Context, h [32]byte) ([]byte, error) {
	m, err := c.call(ctx, &wire.GetChunk{Hash: h})
	if err != nil {
		return nil, err
	}
	data := m.(*wire.Chunk).Data
	if sum := sha256.Sum256(data); subtle.ConstantTimeCompare(sum[:], h[:]) != 1 {
		return nil, ErrChunkMismatch
	}
	return data, nil
}
