package securechan

import (
	"container/heap"
	"sync"
)

// replayCache remembers the handshake ephemerals of recently accepted first
// messages, bounded in size. Entries are ordered by the timestamp their
// first message claimed. When the cache is full, the entry with the oldest
// timestamp is evicted and the floor rises to its timestamp: from then on a
// first message must claim a timestamp above the floor, so an evicted
// message can never be replayed. Entries older than the window are dropped
// too, since the window check already rejects them.
type replayCache struct {
	mu      sync.Mutex // guards all fields below
	max     int
	floor   int64 // unix nanoseconds; timestamps <= floor are rejected
	seen    map[[32]byte]struct{}
	byStamp stampHeap
}

type stampedEphemeral struct {
	stamp     int64
	ephemeral [32]byte
}

type stampHeap []stampedEphemeral

func (h stampHeap) Len() int           { return len(h) }
func (h stampHeap) Less(i, j int) bool { return h[i].stamp < h[j].stamp }
func (h stampHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *stampHeap) Push(x any)        { *h = append(*h, x.(stampedEphemeral)) }
func (h *stampHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, floor: -1 << 63, seen: make(map[[32]byte]struct{})}
}

// check reports ErrReplay if the ephemeral was seen or the stamp is at or
// below the floor, and, if record is set and the message is new, remembers
// it. oldest is the lowest stamp still inside the window: entries below it
// are dropped first.
func (c *replayCache) check(ephemeral [32]byte, stamp, oldest int64, record bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.byStamp) > 0 && c.byStamp[0].stamp < oldest {
		old := heap.Pop(&c.byStamp).(stampedEphemeral)
		delete(c.seen, old.ephemeral)
	}
	if stamp <= c.floor {
		return ErrReplay
	}
	if _, ok := c.seen[ephemeral]; ok {
		return ErrReplay
	}
	if !record {
		return nil
	}
	for len(c.byStamp) >= c.max {
		if stamp <= c.byStamp[0].stamp {
			// The new message would be the one evicted: refuse it, since
			// it could not be remembered.
			return ErrReplay
		}
		old := heap.Pop(&c.byStamp).(stampedEphemeral)
		delete(c.seen, old.ephemeral)
		c.floor = max(c.floor, old.stamp)
	}
	c.seen[ephemeral] = struct{}{}
	heap.Push(&c.byStamp, stampedEphemeral{stamp, ephemeral})
	return nil
}
