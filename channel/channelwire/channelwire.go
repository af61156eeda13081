// Package channelwire lets a relay or mirror serve broadcast channels from
// a channel.Cache over the wire protocol: it answers FetchChannel and
// FetchChannelPosts (docs/spec/channels.md §5), and GetChunk for the media
// of the posts it mirrors, so that a channel stays readable while its
// server is blocked. Clients verify every post against
// the channel's owner key, so the cache need not be trusted; it verifies
// posts on insert anyway, so it never serves forged ones.
//
// `samizdat relay --mirror-channel` runs Serve on a listener of its own
// (internal/cli/channel_mirror.go).
package channelwire

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// Chunks is where a mirror keeps the media chunks of the posts it caches
// (docs/spec/channels.md §5). GetChunk's error wraps fs.ErrNotExist for a
// chunk it does not hold.
type Chunks interface {
	GetChunk(ctx context.Context, h [32]byte) ([]byte, error)
}

// Answer answers one request from the cache: FetchChannel,
// FetchChannelPosts and Ping; anything else gets Error{Unavailable}, so a
// client moves on to another route. The posts answered are the cache's own
// (already verified) encodings.
func Answer(c *channel.Cache, m wire.Message) wire.Message { return AnswerMedia(c, nil, m) }

// AnswerMedia is Answer that also answers GetChunk from chunks (nil: none
// held). A chunk is served only if its bytes hash to the address asked
// for; the reader checks that again, against the signed post.
func AnswerMedia(c *channel.Cache, chunks Chunks, m wire.Message) wire.Message {
	switch m := m.(type) {
	case *wire.GetChunk:
		if chunks == nil {
			return wire.Errorf(wire.CodeNotFound, "this relay keeps no media of channels")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		data, err := chunks.GetChunk(ctx, m.Hash)
		if sum := sha256.Sum256(data); err != nil || len(data) == 0 || len(data) > wire.MaxChunk || subtle.ConstantTimeCompare(sum[:], m.Hash[:]) != 1 {
			return wire.Errorf(wire.CodeNotFound, "this relay has no copy of that chunk")
		}
		return &wire.Chunk{Hash: m.Hash, Data: data}
	case *wire.Ping:
		return &wire.Pong{}
	case *wire.FetchChannel:
		d, ok := c.Descriptor(channel.ID(m.Channel))
		if !ok {
			return wire.Errorf(wire.CodeNotFound, "this relay has no copy of that channel")
		}
		return &wire.ChannelInfo{Descriptor: d, LastSeq: c.LastSeq(channel.ID(m.Channel))}
	case *wire.FetchChannelPosts:
		posts, more, err := c.After(channel.ID(m.Channel), m.AfterSeq, int(m.Limit))
		if err != nil {
			return wire.Errorf(wire.CodeNotFound, "this relay has no copy of that channel")
		}
		return &wire.ChannelPosts{Channel: m.Channel, Posts: posts, More: more}
	}
	return wire.Errorf(wire.CodeUnavailable, "this relay serves cached channel posts only; reach the server another way")
}

// Serve accepts secure-channel sessions on ln with key and answers them
// from c until ctx ends.
func Serve(ctx context.Context, ln net.Listener, key *securechan.ServerKey, c *channel.Cache) error {
	return ServeMedia(ctx, ln, key, c, nil)
}

// ServeMedia is Serve that also serves the media chunks in chunks.
func ServeMedia(ctx context.Context, ln net.Listener, key *securechan.ServerKey, c *channel.Cache, chunks Chunks) error {
	return ServeFunc(ctx, ln, key, func(m wire.Message) wire.Message { return AnswerMedia(c, chunks, m) })
}

// ServeFunc is Serve with the answers given by answer (called after the
// hello, concurrently from every session). Tests use it to play a
// misbehaving mirror.
func ServeFunc(ctx context.Context, ln net.Listener, key *securechan.ServerKey, answer func(wire.Message) wire.Message) error {
	srv, err := securechan.NewServer(securechan.ServerConfig{Key: key})
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	slots := make(chan struct{}, MaxSessions)
	var pause time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Transient (out of file descriptors, say): pause, go on.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		pause = 0
		select {
		case slots <- struct{}{}:
		default:
			conn.Close() // over the cap: the client tries its next route
			continue
		}
		go func() {
			defer func() { <-slots }()
			serveConn(ctx, srv, conn, answer)
		}()
	}
}

// MaxSessions caps the sessions Serve and ServeFunc hold at once; a
// connection over it is closed at once.
const MaxSessions = 4096

func serveConn(ctx context.Context, srv *securechan.Server, conn net.Conn, answer func(wire.Message) wire.Message) {
	defer conn.Close()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	sc, err := srv.Accept(hctx, conn)
	cancel()
	if err != nil {
		return
	}
	defer sc.Close()
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	defer stop()
	hello := false
	for {
		sc.SetReadDeadline(time.Now().Add(5 * time.Minute))
		b, err := sc.Recv()
		if err != nil {
			return
		}
		f, err := wire.Decode(b)
		if err != nil {
			h, _ := wire.ParseHeader(b)
			send(sc, h.RequestID, wire.Errorf(wire.CodeBadRequest, "%v", err))
			return
		}
		var resp wire.Message
		switch m := f.Msg.(type) {
		case *wire.ClientHello:
			v, ok := wire.Negotiate(m.MinVersion, m.MaxVersion, wire.Version, wire.Version)
			if !ok || hello {
				send(sc, f.RequestID, wire.Errorf(wire.CodeUnsupportedVersion, "relay speaks version %d", wire.Version))
				return
			}
			hello = true
			resp = &wire.ServerHello{Version: v, MinVersion: wire.Version, MaxVersion: wire.Version,
				ServerTime: uint64(time.Now().Unix()), Limits: wire.ProtocolLimits}
		default:
			if !hello {
				send(sc, f.RequestID, wire.Errorf(wire.CodeBadRequest, "the first request must be ClientHello"))
				return
			}
			resp = answer(m)
		}
		if err := send(sc, f.RequestID, resp); err != nil {
			return
		}
	}
}

func send(sc *securechan.Conn, id uint32, m wire.Message) error {
	if id == 0 {
		return errors.New("channelwire: no request id to answer")
	}
	b, err := wire.Encode(wire.Frame{RequestID: id, Msg: m})
	if err != nil {
		return err
	}
	sc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return sc.Send(b)
}
