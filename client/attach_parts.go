package client

import (
	"context"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/wire"
)

// Chunks in parts (docs/spec/attachments.md §5.1). On a path whose
// connections freeze after a byte budget (15-20 KB: less than one 256 KiB
// chunk), a transfer moves each chunk in parts sized to what the
// connection may still carry before its share of the budget, one request
// at a time, and asks for a fresh connection when the room left is too
// small for a useful part. A part that did arrive is never asked again: a
// download keeps the parts of the chunk it is on, an upload goes on from
// where the server says its partial copy ends.

const (
	// partOverhead is what a part costs the budget beyond its data: the
	// frame, the secure channel's record and its padding to 256 bytes.
	partOverhead = 512
	// minPart: with less room than this for data, a fresh connection is
	// worth more than another part.
	minPart = 512
	// freshWait bounds the wait for keepPath's handover; past it the
	// transfer ends the session itself and the keeper reconnects.
	freshWait = 10 * time.Second
)

// byteMeter is the byte budget of one connection of a reach session.
type byteMeter struct {
	ac     *activityConn
	budget func() (reach.Budget, bool)
	fresh  chan struct{} // a transfer asks keepPath for a fresh connection
}

// newByteMeter measures cd against the budget of its path on network (none
// once a handover for the budget failed on it: cd.noBudget).
func (c *Client) newByteMeter(network string, cd *conduit) *byteMeter {
	noBudget := cd.noBudget
	return &byteMeter{ac: cd.ac, fresh: make(chan struct{}, 1), budget: func() (reach.Budget, bool) {
		if noBudget {
			return reach.Budget{}, false
		}
		return c.reach.racer.Memory().Budget(network, cd.cand.ID, time.Now())
	}}
}

// room returns how many more bytes the connection may receive, and carry
// both ways, before its share of the path's budget; ok is false if the
// path has no budget (a transfer then moves whole chunks).
func (m *byteMeter) room() (rx, total int64, ok bool) {
	b, ok := m.budget()
	if !ok {
		return 0, 0, false
	}
	r := m.ac.rx.Load()
	rx, total = b.Room(r, r+m.ac.tx.Load())
	return rx, total, true
}

// partMeter returns the meter of sess if its path has a byte budget.
func partMeter(sess *session) *byteMeter {
	m := sess.meter.Load()
	if m == nil {
		return nil
	}
	if _, _, ok := m.room(); !ok {
		return nil
	}
	return m
}

// freshConnection asks for a fresh connection in place of sess and waits
// until sess has ended.
func freshConnection(ctx context.Context, sess *session, m *byteMeter) error {
	select {
	case m.fresh <- struct{}{}:
	default:
	}
	select {
	case <-sess.Done():
	case <-time.After(freshWait):
		sess.End(errFreshConnection)
	case <-ctx.Done():
		return ErrOffline
	}
	return nil
}

// partSize is the data of the next part: what is left of the chunk, at
// most the room less the part's overhead; 0 if that is under minPart.
func partSize(left int, room int64) int {
	n := min(int64(left), room-partOverhead)
	if n < int64(min(left, minPart)) {
		return 0
	}
	return int(n)
}

// downloadParts fetches the chunks of missing in parts over sess while its
// connection has room, passing each whole chunk to save. partial keeps the
// parts of an unfinished chunk across sessions. It returns the bytes that
// arrived.
func downloadParts(ctx context.Context, sess *session, m *byteMeter, op *attach.Opener, hashes []attach.Hash, missing []int,
	partial map[int][]byte, save func(i int, sealed []byte) error) (int, error) {
	moved := 0
	for _, i := range missing {
		size := op.SealedLen(i)
		buf := partial[i]
		if buf == nil {
			buf = make([]byte, 0, size)
		}
		for len(buf) < size {
			rx, _, _ := m.room()
			n := partSize(size-len(buf), rx)
			if n == 0 {
				partial[i] = buf
				return moved, freshConnection(ctx, sess, m)
			}
			resp, err := sess.call(ctx, &wire.GetChunkPart{Hash: wire.ChunkHash(hashes[i]), Offset: uint32(len(buf)), Length: uint32(n)})
			if err != nil {
				partial[i] = buf
				return moved, err
			}
			p := resp.(*wire.ChunkPart)
			if p.Offset != uint32(len(buf)) || len(p.Data) == 0 || len(p.Data) > n {
				return moved, fmt.Errorf("%w (the server sent %d bytes at %d for %d at %d of chunk %d)", ErrFileAltered, len(p.Data), p.Offset, n, len(buf), i)
			}
			buf = append(buf, p.Data...)
			moved += len(p.Data)
		}
		delete(partial, i)
		if err := save(i, buf); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// upPart is the chunk an upload in parts is on: sealed once, and how much
// of it the server holds.
type upPart struct {
	i    int
	ct   []byte
	h    wire.ChunkHash
	have int
}

// uploadParts sends the chunks of missing in parts over sess while its
// connection has room. seal returns chunk i sealed (checked against its
// known hash); cur keeps the chunk under way across sessions; finished
// hears each chunk the server stored. It returns the bytes the server
// took.
func uploadParts(ctx context.Context, sess *session, m *byteMeter, missing []int, cur *upPart,
	seal func(i int, buf []byte) ([]byte, attach.Hash, error), finished func(i int)) (int, error) {
	moved := 0
	for _, i := range missing {
		if cur.ct == nil || cur.i != i {
			ct, h, err := seal(i, nil)
			if err != nil {
				return moved, err
			}
			*cur = upPart{i: i, ct: ct, h: wire.ChunkHash(h)}
		}
		for cur.have < len(cur.ct) {
			_, total, _ := m.room()
			n := partSize(len(cur.ct)-cur.have, total)
			if n == 0 {
				return moved, freshConnection(ctx, sess, m)
			}
			resp, err := sess.call(ctx, &wire.PutChunkPart{Hash: cur.h, Size: uint32(len(cur.ct)), Offset: uint32(cur.have), Data: cur.ct[cur.have : cur.have+n]})
			if err != nil {
				return moved, err
			}
			have := int(resp.(*wire.ChunkPartStored).Have)
			if have > len(cur.ct) {
				return moved, fmt.Errorf("client: the server holds %d bytes of a chunk of %d", have, len(cur.ct))
			}
			moved += max(have-cur.have, 0)
			cur.have = have
		}
		*cur = upPart{}
		finished(i)
	}
	return moved, nil
}
