package client

import "context"

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
