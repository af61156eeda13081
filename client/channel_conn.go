package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// ChannelConn is a connection for broadcast channels to a server or to a
// relay that serves channels from its cache. Channels are public, so it
// needs no account: any device key will do (NewReaderKey makes a throwaway
// one, which is what readers should use so that following a channel is not
// linked to their account). Its methods are safe for concurrent use.
type ChannelConn struct {
	sc     *securechan.Conn
	onPush func(*wire.ChannelPush)

	writeMu sync.Mutex // serializes frames on sc

	mu      sync.Mutex // guards the fields below
	nextID  uint32
	waiting map[uint32]chan wire.Message
	err     error
	done    chan struct{}
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
	var lastErr error = ErrOffline
	for _, addr := range link.Addrs {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		nc, err := dial(dctx, addr)
		if err != nil {
			cancel()
			lastErr = fmt.Errorf("client: connecting to %s: %w", addr, err)
			continue
		}
		sc, err := securechan.Client(dctx, nc, securechan.ClientConfig{ServerPublic: link.Key, DeviceKey: device})
		cancel()
		if err != nil {
			nc.Close()
			lastErr = fmt.Errorf("client: secure channel to %s: %w", addr, err)
			continue
		}
		c := &ChannelConn{sc: sc, onPush: onPush, waiting: map[uint32]chan wire.Message{}, done: make(chan struct{})}
		go c.readLoop()
		if _, err := c.call(ctx, &wire.ClientHello{MinVersion: wire.Version, MaxVersion: wire.Version}); err != nil {
			c.Close()
			lastErr = fmt.Errorf("client: hello to %s: %w", addr, err)
			continue
		}
		return c, nil
	}
	return nil, lastErr
}

func (c *ChannelConn) readLoop() {
	for {
		b, err := c.sc.Recv()
		if err != nil {
			c.fail(fmt.Errorf("client: connection lost: %w", err))
			return
		}
		f, err := wire.Decode(b)
		if err != nil {
			c.fail(fmt.Errorf("client: server sent an undecodable frame: %w", err))
			return
		}
		if p, ok := f.Msg.(*wire.ChannelPush); ok {
			if c.onPush != nil {
				c.onPush(p)
			}
			continue
		}
		if f.RequestID == 0 {
			if e, ok := f.Msg.(*wire.Error); ok {
				c.fail(fmt.Errorf("client: server closed the connection: %s", e.Code.Text()))
			}
			continue // other pushes (Deliver) are not for this connection
		}
		c.mu.Lock()
		ch := c.waiting[f.RequestID]
		delete(c.waiting, f.RequestID)
		c.mu.Unlock()
		if ch != nil {
			ch <- f.Msg
		}
	}
}

// call sends a request and waits for its answer; an Error answer is
// returned as the error (a *wire.Error).
func (c *ChannelConn) call(ctx context.Context, req wire.Message) (wire.Message, error) {
	ch := make(chan wire.Message, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	id := c.nextID
	c.waiting[id] = ch
	c.mu.Unlock()
	b, err := wire.Encode(wire.Frame{RequestID: id, Msg: req})
	if err != nil {
		return nil, err
	}
	c.writeMu.Lock()
	err = c.sc.Send(b)
	c.writeMu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("client: connection lost: %w", err))
		return nil, c.Err()
	}
	select {
	case m := <-ch:
		if e, ok := m.(*wire.Error); ok {
			return nil, e
		}
		if want := wire.ResponseType(req.Type()); m.Type() != want {
			return nil, fmt.Errorf("client: server answered %v with %v", req.Type(), m.Type())
		}
		return m, nil
	case <-c.done:
		return nil, c.Err()
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (c *ChannelConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		close(c.done)
		c.sc.Close()
	}
	c.mu.Unlock()
}

// Err returns why the connection ended, or nil while it works.
func (c *ChannelConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the connection ends.
func (c *ChannelConn) Done() <-chan struct{} { return c.done }

// Close closes the connection.
func (c *ChannelConn) Close() error {
	c.fail(errors.New("client: closed"))
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
