package client

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/wire"
)

// ChannelOwnerKey derives the owner key of the user's channel name from
// the account seed, so that owned channels need no secret of their own
// and come back with the account (on every device of it).
func (c *Client) ChannelOwnerKey(name string) (ed25519.PrivateKey, error) {
	seed := c.AccountSeed()
	defer clear(seed)
	k, err := hkdf.Key(sha256.New, seed, nil, "samizdat channel owner v1 "+name, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(k), nil
}

// OwnedChannel returns the link and owner key of the user's channel name.
func (c *Client) OwnedChannel(name string) (ChannelLink, ed25519.PrivateKey, error) {
	k, err := c.ChannelOwnerKey(name)
	if err != nil {
		return ChannelLink{}, nil, err
	}
	return ChannelLink{Owner: channel.KeyOf(k), Name: name, Server: c.Server()}, k, nil
}

// PostText signs text as the next post of the channel in link with the
// owner key and posts it over conn (PostSigned). It returns the post's seq.
func PostText(ctx context.Context, conn *ChannelConn, link ChannelLink, key ed25519.PrivateKey, text string) (uint64, error) {
	return PostSigned(ctx, conn, link, key, channel.KindText, []byte(text))
}

// PostSigned signs a post of kind with body as the channel's next one and
// posts it over conn; if another admin took that seq first it signs the
// next one (a few tries). It returns the post's seq.
func PostSigned(ctx context.Context, conn *ChannelConn, link ChannelLink, key ed25519.PrivateKey, kind channel.Kind, body []byte) (uint64, error) {
	info, err := conn.Info(ctx, link.ID())
	if err != nil {
		return 0, fmt.Errorf("%w (did you run 'samizdat channel create %s'?)", err, link.Name)
	}
	seq := info.LastSeq + 1
	for range 5 {
		p := &channel.Post{Channel: channel.ID(link.ID()), Seq: seq, Time: uint64(time.Now().UnixMilli()), Kind: kind, Body: body}
		if err := p.Sign(key, nil); err != nil {
			return 0, err
		}
		err = conn.Post(ctx, p.Encode())
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CodeStaleEpoch {
			seq = we.CurrentEpoch + 1 // another admin posted first: sign again
			continue
		}
		if err != nil {
			return 0, err
		}
		return seq, nil
	}
	return 0, err
}
