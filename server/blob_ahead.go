package server

import (
	"sync"

	"github.com/samizdat-project/samizdat/wire"
)

// Read-ahead of GetChunk answers (docs/spec/wire.md, "Blobs": GetChunks
// are answered in order). The reader goroutine reads a chunk from the store
// and queues its answer; a sender goroutine of the session seals and writes
// the answers in the order they were queued. So the store read (and the
// CRC-32C check) of the next chunk overlaps the sealing and the write of
// the last one, instead of the session doing both one after the other for
// each chunk. Any other request waits until every queued answer is sent
// (as for the pipelined Sends, pipeline.go), so answers keep the order of
// their requests. The sender exits when the queue is empty: an idle
// session keeps no goroutine for it.

// maxChunksAhead bounds the answers a session has read and not yet sent
// (each holds a chunk's buffer, up to wire.MaxChunk): past it the reader
// waits, holding the next chunk, and TCP pushes back on the client. So a
// downloading session holds at most 3 chunks (768 KiB), against 1 without
// read-ahead; one answer being sent and one ready is enough, as a read
// (about 35 µs a chunk in BenchmarkServeChunks' profile) is shorter than
// a seal and write (about 110). 1, 2 and 4 could not be told apart there.
const maxChunksAhead = 2

// chunkAnswer is a GetChunk answer waiting to be sent; buf, if not nil,
// holds its chunk (readChunk) and goes back to the pool once it is sent.
type chunkAnswer struct {
	requestID uint32
	resp      wire.Message
	buf       *[]byte
}

// chunkQueue is a session's queue of GetChunk answers not yet sent.
type chunkQueue = answerQueue[chunkAnswer]

// answerQueue is a session's queue of answers that a goroutine of its own
// writes in order (pipeline.go: Sends; this file: GetChunks). The goroutine
// runs while running is set and stops when the queue is empty.
type answerQueue[T any] struct {
	mu      sync.Mutex
	cond    sync.Cond // on mu: the queue shrank, or the goroutine stopped
	queue   []T
	running bool
}

// init readies a new queue.
func (q *answerQueue[T]) init() { q.cond.L = &q.mu }

// addLocked queues x (under mu) and reports whether the caller must start
// the goroutine.
func (q *answerQueue[T]) addLocked(x T) (start bool) {
	q.queue = append(q.queue, x)
	start = !q.running
	q.running = true
	return start
}

// next returns the oldest queued answer, which stays queued, or false when
// there is none: then the goroutine must return (it is marked stopped).
func (q *answerQueue[T]) next() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		q.running = false
		q.cond.Broadcast()
		var none T
		return none, false
	}
	return q.queue[0], true
}

// dropLocked removes the n oldest answers (under mu) and wakes the waiters.
func (q *answerQueue[T]) dropLocked(n int) {
	rest := copy(q.queue, q.queue[n:])
	clear(q.queue[rest:])
	q.queue = q.queue[:rest]
	q.cond.Broadcast()
}

// drain waits until every queued answer is written and the goroutine has
// stopped.
func (q *answerQueue[T]) drain() {
	q.mu.Lock()
	for q.running {
		q.cond.Wait()
	}
	q.mu.Unlock()
}

// getChunkAhead reads m's chunk and queues its answer for the sender
// (false: the session must close). Only the reader goroutine calls it.
func (ss *session) getChunkAhead(requestID uint32, m *wire.GetChunk) bool {
	resp, buf := ss.readChunk(m)
	q := ss.chunks
	if q == nil {
		q = &chunkQueue{}
		q.init()
		ss.chunks = q
	}
	q.mu.Lock()
	for len(q.queue) >= maxChunksAhead {
		q.cond.Wait()
	}
	start := q.addLocked(chunkAnswer{requestID: requestID, resp: resp, buf: buf})
	q.mu.Unlock()
	if start {
		go ss.sendChunks(q)
	}
	return !ss.closing.Load()
}

// sendChunks writes the queued answers in order and returns when the
// queue is empty. After a failed write it only releases the buffers of
// the rest: the session is closing.
func (ss *session) sendChunks(q *chunkQueue) {
	failed := false
	for {
		a, ok := q.next() // stays queued (and counted) until it is sent
		if !ok {
			return
		}

		if !failed && ss.sendChunkAnswer(a) != nil {
			// The record stream is broken: end the session (the reader
			// sees its channel closed).
			failed = true
			ss.closing.Store(true)
			ss.sc.Close()
		}
		putChunkBuffer(a.buf)

		q.mu.Lock()
		q.dropLocked(1)
		q.mu.Unlock()
	}
}

// sendChunkAnswer sends a: as the frame its chunk was read into when it
// was (no copy of the chunk into a frame), else encoded.
func (ss *session) sendChunkAnswer(a chunkAnswer) error {
	if frame := chunkFrame(a.requestID, a.resp, a.buf); frame != nil {
		return ss.sendEncoded(frame, wire.TypeChunk)
	}
	return ss.write(wire.Frame{RequestID: a.requestID, Msg: a.resp})
}

// drainChunks waits until every queued GetChunk answer is sent and the
// sender has stopped.
func (ss *session) drainChunks() {
	if q := ss.chunks; q != nil {
		q.drain()
	}
}
