package client

import (
	"context"
	"os"
)

// The followed channels live in the encrypted local store (namespace
// "channels"): which channels a user follows is theirs to keep.
var followedChannelsKey = []byte("followed")

// FollowedChannels returns the channels this home follows: name -> channel
// link text (ChannelLink.String).
func (c *Client) FollowedChannels() (map[string]string, error) {
	t, err := c.store.begin(context.Background())
	if err != nil {
		return nil, err
	}
	defer t.rollback()
	m := map[string]string{}
	t.get("channels", followedChannelsKey, &m)
	if t.err != nil {
		return nil, t.err
	}
	return m, nil
}

// FollowChannels adds (or replaces, by name) followed channels: name ->
// channel link text.
func (c *Client) FollowChannels(add map[string]string) error {
	t, err := c.store.begin(context.Background())
	if err != nil {
		return err
	}
	m := map[string]string{}
	t.get("channels", followedChannelsKey, &m)
	for name, link := range add {
		m[name] = link
	}
	t.put("channels", followedChannelsKey, m)
	return t.commit()
}

// channelFileKey is where the path a channel post's file was saved at is
// kept (namespace "channels"), by the file's Ref.
func channelFileKey(ref string) []byte { return []byte("file/" + ref) }

// ChannelFileSaved returns where the channel file ref was saved on this
// device, if it was and the file is still there.
func (c *Client) ChannelFileSaved(ref string) (string, bool) {
	t, err := c.store.begin(context.Background())
	if err != nil {
		return "", false
	}
	defer t.rollback()
	var path string
	if !t.get("channels", channelFileKey(ref), &path) || path == "" {
		return "", false
	}
	if _, err := os.Stat(path); err != nil {
		return "", false
	}
	return path, true
}

// SetChannelFileSaved records that the channel file ref was saved at path.
func (c *Client) SetChannelFileSaved(ref, path string) error {
	t, err := c.store.begin(context.Background())
	if err != nil {
		return err
	}
	t.put("channels", channelFileKey(ref), path)
	return t.commit()
}
