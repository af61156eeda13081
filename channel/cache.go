package channel

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrUnknownChannel: the cache holds no descriptor for the channel.
var ErrUnknownChannel = errors.New("channel: unknown channel")

// Cache keeps the most recent verified posts of a bounded number of
// channels, so that a relay or mirror can serve them while the channel's
// server is unreachable. Every post is verified against the channel's
// descriptor (owner key) and revocations before it is kept, so a cache
// filled from an untrusted source serves only genuine posts. Safe for
// concurrent use.
type Cache struct {
	perChannel  int
	maxChannels int

	mu    sync.Mutex // guards chans and clock
	chans map[ID]*cachedChannel
	clock uint64 // logical time of the last use, for LRU eviction
}

type cachedChannel struct {
	descriptor []byte
	state      *State
	posts      []cachedPost // sorted by seq, at most perChannel
	used       uint64
}

type cachedPost struct {
	seq    uint64
	signer Key
	enc    []byte
}

// NewCache returns a cache of at most perChannel posts for each of at most
// maxChannels channels (the least recently used channel is dropped).
func NewCache(perChannel, maxChannels int) *Cache {
	return &Cache{perChannel: max(perChannel, 1), maxChannels: max(maxChannels, 1), chans: map[ID]*cachedChannel{}}
}

// AddChannel verifies an encoded descriptor and makes room for its channel.
// Adding a known channel again keeps its posts.
func (c *Cache) AddChannel(descriptor []byte) (*Descriptor, error) {
	d, err := DecodeDescriptor(descriptor)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	id := d.ID()
	if ch, ok := c.chans[id]; ok {
		ch.used = c.clock
		return d, nil
	}
	if len(c.chans) >= c.maxChannels {
		var oldest ID
		var at uint64 = ^uint64(0)
		for k, ch := range c.chans {
			if ch.used < at {
				oldest, at = k, ch.used
			}
		}
		delete(c.chans, oldest)
	}
	c.chans[id] = &cachedChannel{descriptor: append([]byte(nil), descriptor...), state: NewState(d.Owner), used: c.clock}
	return d, nil
}

// Insert verifies an encoded post and keeps it. A post older than the
// cache's window of a full channel is ignored; a post already held is
// not an error.
func (c *Cache) Insert(post []byte) error {
	id, _, ok := PeekSeq(post)
	if !ok {
		return fmt.Errorf("channel: caching post: %w", ErrTruncated)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.chans[id]
	if ch == nil {
		return fmt.Errorf("channel: caching post: %w %v", ErrUnknownChannel, id)
	}
	p, err := ch.state.VerifyEncoded(post)
	if err != nil {
		return err
	}
	c.clock++
	ch.used = c.clock
	i, found := slices.BinarySearchFunc(ch.posts, p.Seq, func(cp cachedPost, seq uint64) int {
		return cmpU64(cp.seq, seq)
	})
	if found {
		return nil
	}
	if len(ch.posts) >= c.perChannel && i == 0 {
		return nil // older than everything in a full window
	}
	ch.posts = slices.Insert(ch.posts, i, cachedPost{seq: p.Seq, signer: p.Signer, enc: append([]byte(nil), post...)})
	if len(ch.posts) > c.perChannel {
		ch.posts = slices.Delete(ch.posts, 0, len(ch.posts)-c.perChannel)
	}
	if p.Kind == KindRevoke {
		ch.state.Apply(p)
		at, _ := ch.state.Revoked(Key(p.Body))
		// Posts of the revoked admin after the revocation were never valid.
		ch.posts = slices.DeleteFunc(ch.posts, func(cp cachedPost) bool {
			return cp.signer == Key(p.Body) && cp.seq > at
		})
	}
	return nil
}

// Descriptor returns the channel's encoded descriptor.
func (c *Cache) Descriptor(id ID) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.chans[id]; ch != nil {
		return ch.descriptor, true
	}
	return nil, false
}

// LastSeq returns the highest seq held for the channel (0 if none).
func (c *Cache) LastSeq(id ID) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.chans[id]; ch != nil && len(ch.posts) > 0 {
		return ch.posts[len(ch.posts)-1].seq
	}
	return 0
}

// After returns up to limit encoded posts with seq > afterSeq, in seq
// order, and whether more are held. The slices are shared: do not modify
// them.
func (c *Cache) After(id ID, afterSeq uint64, limit int) (posts [][]byte, more bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.chans[id]
	if ch == nil {
		return nil, false, ErrUnknownChannel
	}
	c.clock++
	ch.used = c.clock
	i, _ := slices.BinarySearchFunc(ch.posts, afterSeq+1, func(cp cachedPost, seq uint64) int {
		return cmpU64(cp.seq, seq)
	})
	for ; i < len(ch.posts); i++ {
		if len(posts) == limit {
			return posts, true, nil
		}
		posts = append(posts, ch.posts[i].enc)
	}
	return posts, false, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
