package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/samizdat-project/samizdat/wire"
)

// framePool holds encoding buffers of transfer requests (a 256 KiB chunk
// each), reused once the secure channel has sealed them.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

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
	buf := framePool.Get().(*[]byte)
	defer framePool.Put(buf)
	b, err := wire.AppendEncode((*buf)[:0], wire.Frame{RequestID: id, Msg: req})
	if err != nil {
		s.mu.Lock()
		delete(s.waiting, id)
		s.mu.Unlock()
		return nil, err
	}
	*buf = b[:0] // Send seals b into records before it returns: b can be reused
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

// transfer schedules the chunk requests of one upload or download over
// the connections it gets (docs/spec/attachments.md §5). Requests go on the
// wire in order, several in flight. After a connection is cut, it knows
// how many chunks a connection carries (capacity: the fewest any cut one
// carried) and sends a chunk that was already sent once only within that
// many chunks of a fresh connection, filling the rest with chunks never
// sent; when only such chunks are left and this connection has no room, it
// starts a fresh one. So on a link that is cut after about the same number
// of bytes each time, no chunk is sent more than twice.
type transfer struct {
	sends    map[int]int // requests sent per chunk
	capacity int         // chunks a cut connection carried (fewest seen); 0 before any cut

	sess    *session // the connection started and handled count for
	started int
	handled int
}

func newTransfer() *transfer { return &transfer{sends: map[int]int{}} }

// errFreshConnection ends a session on purpose: its remaining room is too
// small for the chunks that are left.
var errFreshConnection = errors.New("client: starting a fresh connection for the rest of a file transfer")

// round sends the requests for missing on sess (req builds one, done takes
// its answer) and returns how many were answered, whether some were held
// back for a fresh connection, and the first error.
func (x *transfer) round(ctx context.Context, sess *session, missing []int,
	req func(i int) (wire.Message, error), done func(i int, resp wire.Message) error) (handled int, held bool, err error) {
	if x.sess != sess {
		x.sess, x.started, x.handled = sess, 0, 0
	}
	order := make([]int, 0, len(missing))
	for _, i := range missing {
		if x.sends[i] > 0 {
			order = append(order, i)
		}
	}
	for _, i := range missing {
		if x.sends[i] == 0 {
			order = append(order, i)
		}
	}
	window := TransferInFlight
	if x.capacity > 0 {
		window = min(window, x.capacity)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	var answered atomic.Int64
loop:
	for _, i := range order {
		if x.sends[i] > 0 && x.capacity > 0 && x.started >= x.capacity {
			held = true // a second cut could hit it here: wait for a fresh connection
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		m, err := req(i)
		if err != nil {
			cancel(err)
			break
		}
		x.sends[i]++
		x.started++
		wait, err := sess.startCall(m)
		if err != nil {
			cancel(err)
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
				cancel(err)
				return
			}
			answered.Add(1)
		}()
	}
	wg.Wait()
	x.handled += int(answered.Load())
	if err = context.Cause(ctx); err != nil && !sess.alive() && !errors.Is(err, errFreshConnection) {
		if c := max(x.handled, 1); x.capacity == 0 || c < x.capacity {
			x.capacity = c
		}
	}
	return int(answered.Load()), held, err
}

// next ends a round that held chunks back and had no error: it ends sess
// so that the next round gets a fresh connection.
func (x *transfer) next(sess *session) { sess.End(errFreshConnection) }
