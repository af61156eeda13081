package securechan

import (
	"container/heap"
	"errors"
	"sync"
)

// errCacheFull: the replay cache cannot remember one more first message
// until older ones expire. The server then asks the client to retry with a
// cookie (docs/spec/securechan.md, "Replay defence").
var errCacheFull = errors.New("securechan: replay cache full")

// replayCache remembers the handshake ephemerals of recently accepted first
// messages until their timestamps leave the window. It is bounded in size,
// but nothing is ever evicted before it expires, and there is no floor: a
// flood of messages stamped at the far edge of the window can fill it, but
// never makes it refuse an honest message (it reports errCacheFull instead,
// and the server falls back to a retry cookie, which needs no entry).
type replayCache struct {
	mu      sync.Mutex // guards all fields below
	max     int
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
	return &replayCache{max: max, seen: make(map[[32]byte]struct{})}
}

// check reports ErrReplay if the ephemeral was seen. If record is set and
// the message is new, it remembers it, or reports errCacheFull when the
// cache has no room. oldest is the lowest stamp still inside the window:
// entries below it are dropped first (the window check refuses them).
func (c *replayCache) check(ephemeral [32]byte, oldest int64, stamp int64, record bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.byStamp) > 0 && c.byStamp[0].stamp < oldest {
		old := heap.Pop(&c.byStamp).(stampedEphemeral)
		delete(c.seen, old.ephemeral)
	}
	if _, ok := c.seen[ephemeral]; ok {
		return ErrReplay
	}
	if !record {
		return nil
	}
	if len(c.byStamp) >= c.max {
		return errCacheFull
	}
	c.seen[ephemeral] = struct{}{}
	heap.Push(&c.byStamp, stampedEphemeral{stamp, ephemeral})
	return nil
}

// size returns the number of remembered first messages.
func (c *replayCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byStamp)
}
