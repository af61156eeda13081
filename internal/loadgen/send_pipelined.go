package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// Pipelined sending, for --window > 1 without --rate: one goroutine per
// sender keeps the window full on its connection. It writes every Send it
// can in one write, then takes every answer that has arrived, so the load
// generator spends little per message (it shares the machine with the
// server it measures). A lost connection is replaced and every Send not yet
// acknowledged is sent again with the same MsgID, as a client does
// (docs/spec/wire.md §6.4).

// enablePipelining makes the sender take its Sends' answers from its
// sessions through a channel instead of Call.
func (b *benchSender) enablePipelining() {
	b.answers = make(chan wire.Frame, 2*b.cfg.Window)
	b.onAnswer = func(f wire.Frame) { b.answers <- f }
}

// inflightSend is a Send written and not answered yet.
type inflightSend struct {
	m     *wire.Send
	start time.Time
}

// runPipelined sends what next gives until it says stop and every Send is
// answered, or until ctx ends. record gets each acknowledged Send.
func (b *benchSender) runPipelined(ctx context.Context, next func() (*wire.Send, bool), record func(m *wire.Send, lat time.Duration), c *benchCounters) error {
	window := b.cfg.Window
	inflight := make(map[uint32]inflightSend, window)
	var queue []*wire.Send // to write: new, or again after a lost connection or a retryable error
	var frames []wire.Frame
	id := uint32(pipelinedIDs)
	exhausted := false
	var current any // the session the in-flight Sends were written on
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := b.session(ctx)
		if err != nil {
			return err
		}
		if current != nil && current != any(s) {
			for _, p := range inflight {
				queue = append(queue, p.m)
				c.retries.Add(1)
			}
			clear(inflight)
		}
		current = s
		for !exhausted && len(inflight)+len(queue) < window {
			m, ok := next()
			if !ok {
				exhausted = true
				break
			}
			queue = append(queue, m)
		}
		if len(inflight)+len(queue) == 0 {
			return nil
		}
		if len(queue) > 0 {
			frames = frames[:0]
			now := time.Now()
			for _, m := range queue {
				id++
				if id == 0 {
					id = pipelinedIDs
				}
				frames = append(frames, wire.Frame{RequestID: id, Msg: m})
				inflight[id] = inflightSend{m: m, start: now}
			}
			queue = queue[:0]
			if err := s.SendFrames(frames); err != nil {
				continue // the session ended: the next turn replaces it and writes all again
			}
		}
		select {
		case f := <-b.answers:
			queue = b.answer(ctx, f, inflight, queue, record, c)
		case <-s.Done():
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		for more := true; more; {
			select {
			case f := <-b.answers:
				queue = b.answer(ctx, f, inflight, queue, record, c)
			default:
				more = false
			}
		}
	}
}

// answer handles one answer; it returns the queue with a Send to write
// again appended when the answer says to retry.
func (b *benchSender) answer(ctx context.Context, f wire.Frame, inflight map[uint32]inflightSend, queue []*wire.Send, record func(*wire.Send, time.Duration), c *benchCounters) []*wire.Send {
	p, ok := inflight[f.RequestID]
	if !ok {
		return queue // an answer from a session already replaced
	}
	delete(inflight, f.RequestID)
	switch m := f.Msg.(type) {
	case *wire.Ack:
		if m.MsgID != p.m.MsgID {
			c.fail(b, errors.New("loadgen: an Ack for another MsgID"))
			return queue
		}
		record(p.m, time.Since(p.start))
	case *wire.Error:
		if retryable(m.Code) {
			c.retries.Add(1)
			sleep(ctx, max(time.Duration(m.RetryAfter)*time.Second, 50*time.Millisecond))
			return append(queue, p.m)
		}
		c.fail(b, m)
	default:
		c.fail(b, fmt.Errorf("loadgen: server answered a Send with %v", f.Msg.Type()))
	}
	return queue
}
