package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/samizdat-project/samizdat/wire"
)

// startCall sends req at once and returns a function that waits for its
// answer (Call, split in two, so that a transfer puts its requests on the
// wire in order while several are in flight).
func (s *Session) startCall(req wire.Message) (func(ctx context.Context) (wire.Message, error), error) {
	ch := make(chan wire.Message, 1)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	s.nextID++
	if s.nextID == 0 {
		s.nextID = 1
	}
	id := s.nextID
	s.waiting[id] = ch
	s.mu.Unlock()
	b, err := wire.Encode(wire.Frame{RequestID: id, Msg: req})
	if err != nil {
		return nil, err
	}
	if err := s.sc.Send(b); err != nil {
		s.End(fmt.Errorf("client: connection lost: %w", err))
		return nil, s.Err()
	}
	return func(ctx context.Context) (wire.Message, error) {
		select {
		case m := <-ch:
			if e, ok := m.(*wire.Error); ok {
				return nil, e
			}
			if want := wire.ResponseType(req.Type()); m.Type() != want {
				return nil, fmt.Errorf("client: server answered %v with %v", req.Type(), m.Type())
			}
			return m, nil
		case <-s.done:
			return nil, s.Err()
		case <-ctx.Done():
			s.mu.Lock()
			delete(s.waiting, id)
			s.mu.Unlock()
			return nil, ctx.Err()
		}
	}, nil
}

// transferRound runs one round of a transfer on sess: for each index in
// order it builds a request (req) and sends it, keeping at most window
// requests in flight, and hands every answer to done. Requests go on the
// wire in index order, so after a cut the chunks lost in flight are the
// first of the next round. It returns how many answers it handled and the
// first error.
func transferRound(ctx context.Context, sess *session, idx []int, window int,
	req func(i int) (wire.Message, error), done func(i int, resp wire.Message) error) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, max(1, window))
	var wg sync.WaitGroup
	var handled atomic.Int64
	fail := func(err error) { cancel(err) }
loop:
	for _, i := range idx {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		m, err := req(i)
		if err != nil {
			fail(err)
			break
		}
		wait, err := sess.startCall(m)
		if err != nil {
			fail(err)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := wait(ctx)
			if err == nil {
				err = done(i, resp)
			}
			if err != nil {
				fail(err)
				return
			}
			handled.Add(1)
		}()
	}
	wg.Wait()
	return int(handled.Load()), context.Cause(ctx)
}

// nextWindow is the window of the round after one that handled n answers
// and ended in a cut: what the last connection carried, at least 1 and at
// most TransferInFlight. A link that is cut every few hundred kilobytes is
// then not sent more than it carries, so a chunk is rarely cut twice.
func nextWindow(n int) int { return min(max(n, 1), TransferInFlight) }
