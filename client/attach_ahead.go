package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/samizdat-project/samizdat/attach"
)

// Write-ahead sealing of an upload (docs/spec/attachments.md §2.2). A chunk
// is sent only once its hash is recorded in the local store with the file
// key; a resumed upload re-seals the recorded chunks and keeps the key only
// if every one seals to its recorded hash, so no key ever seals two
// different plaintexts at one index that left this device. A fresh upload
// reads the file once: no whole-file digest pass.

// sealBatch is how many chunks are sealed, recorded and held at a time
// (4 MiB) once an upload is under way (attach_ahead.go, startAhead).
const sealBatch = 16

// firstBatch is the size of an upload's first batch; each next one is
// twice the last, up to sealBatch, so that the first chunk goes out after
// two chunks are sealed and recorded, not sixteen.
const firstBatch = 2

// uploadRecordV marks a record whose Hashes is a write-ahead record. Older
// records (a whole-file digest, session 7) are never resumed: their key may
// have sealed chunks that no record lists.
const uploadRecordV = 2

// uploadRecord is the unfinished upload of one file (uploadNS).
type uploadRecord struct {
	V    int        `json:"v"`
	Key  attach.Key `json:"key"`
	Size int64      `json:"size"`
	// Hashes are the hashes of chunks 0, 1, ... (32 bytes each), each
	// recorded before that chunk was first sealed for sending.
	Hashes []byte `json:"hashes"`
}

// recorded returns how many chunks r lists, or -1 if r cannot be resumed
// for a file of size bytes.
func (r *uploadRecord) recorded(size int64) int {
	if r.V != uploadRecordV || r.Size != size || len(r.Hashes)%len(attach.Hash{}) != 0 {
		return -1
	}
	n := len(r.Hashes) / len(attach.Hash{})
	if n > attach.ChunkCount(size) {
		return -1
	}
	return n
}

// prepareUpload picks the file key and returns its record and the chunk
// hashes known so far (the first known of them). An unfinished upload of
// the same file keeps its key if every recorded chunk seals to its recorded
// hash (the server may hold those chunks, so only the ones it lacks are
// sent again); otherwise, or with no record, a fresh key is recorded with
// no hashes. Reusing a key for changed bytes would reuse nonces.
func (c *Client) prepareUpload(ctx context.Context, f *os.File, size int64, upKey []byte) (rec *uploadRecord, hashes []attach.Hash, known int, err error) {
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	rec = &uploadRecord{}
	had := t.get(uploadNS, upKey, rec)
	t.rollback()
	hashes = make([]attach.Hash, attach.ChunkCount(size))
	if known = rec.recorded(size); had && known >= 0 {
		same, err := sealsToRecord(rec, f, hashes[:known])
		if err != nil {
			return nil, nil, 0, err
		}
		if same {
			return rec, hashes, known, nil
		}
		c.logf("client: the file changed since its upload was interrupted; sending it afresh under a new key")
	}
	rec = &uploadRecord{V: uploadRecordV, Key: attach.NewKey(), Size: size}
	if t, err = c.store.begin(ctx); err != nil {
		return nil, nil, 0, err
	}
	t.put(uploadNS, upKey, rec)
	return rec, hashes, 0, t.commit()
}

// sealsToRecord re-seals the chunks rec lists into into and reports whether
// each seals to its recorded hash.
func sealsToRecord(rec *uploadRecord, f *os.File, into []attach.Hash) (bool, error) {
	s, err := attach.NewSealer(rec.Key, f, rec.Size)
	if err != nil {
		return false, fmt.Errorf("client: %w", err)
	}
	buf := make([]byte, 0, attach.MaxSealedChunk)
	for i := range into {
		_, h, err := s.Seal(i, buf)
		if err != nil {
			return false, nil // the file shrank: it changed
		}
		if !bytes.Equal(h[:], rec.Hashes[i*len(h):(i+1)*len(h)]) {
			return false, nil
		}
		into[i] = h
	}
	return true, nil
}

// errSealing marks an error of the sealing goroutine: reading the file or
// recording hashes failed, and the upload ends (no retry helps).
var errSealing = errors.New("client: sealing the file")

// sealedBatch is a batch of chunks sealed and recorded by an aheadSealer.
type sealedBatch struct {
	start  int
	chunks [][]byte
	hashes []attach.Hash
	err    error
}

// aheadSealer seals the chunks of an upload that no record lists yet, in
// index order, a batch at a time, and records each batch's hashes in the
// local store before it hands out any chunk of it. Sealing and recording
// run on goroutines of their own: while the sender sends one batch, the
// next is recorded (a commit waits on an fsync) and the one after is
// sealed (three batches of buffers, reused).
type aheadSealer struct {
	ready chan *sealedBatch
	free  chan *sealedBatch
	stop  chan struct{}
	ended chan struct{}
	cur   *sealedBatch // the batch being handed out
	err   error        // the error that ended the sealing goroutine
}

// aheadBuffers is how many batches an upload holds at most: the one being
// sent, the one being recorded, the one being sealed.
const aheadBuffers = 3

// startAhead starts sealing the chunks from rec's first unrecorded one;
// upKey names rec in the local store. Stop it before f is closed.
func (c *Client) startAhead(ctx context.Context, s *attach.Sealer, rec *uploadRecord, upKey []byte) *aheadSealer {
	a := &aheadSealer{ready: make(chan *sealedBatch, 1), free: make(chan *sealedBatch, aheadBuffers),
		stop: make(chan struct{}), ended: make(chan struct{})}
	for range aheadBuffers {
		a.free <- &sealedBatch{}
	}
	r := *rec
	r.Hashes = bytes.Clone(rec.Hashes)
	sealed := make(chan *sealedBatch, aheadBuffers) // never full: there are no more batches
	var wg sync.WaitGroup
	wg.Go(func() { a.sealAll(s, len(r.Hashes)/len(attach.Hash{}), sealed) })
	wg.Go(func() { c.recordAll(ctx, a, upKey, &r, sealed) })
	go func() {
		wg.Wait()
		close(a.ended)
	}()
	return a
}

// sealAll seals the batches from chunk first on, each into a free batch,
// and passes them on to sealed in order, until the last chunk, an error
// or stop.
func (a *aheadSealer) sealAll(s *attach.Sealer, first int, sealed chan<- *sealedBatch) {
	defer close(sealed)
	size := firstBatch
	for start := first; start < s.Count(); start += size {
		if start > first {
			size = min(2*size, sealBatch)
		}
		var b *sealedBatch
		select {
		case b = <-a.free:
		case <-a.stop:
			return
		}
		b.seal(s, start, min(start+size, s.Count()))
		failed := b.err != nil // b is recordAll's once passed on: not read after
		sealed <- b
		if failed {
			return
		}
	}
}

// recordAll appends the hashes of each sealed batch to r, commits r under
// upKey and only then hands the batch to the sender (docs/spec/
// attachments.md §2.2). The batches sealed while a commit ran share the
// next commit.
func (c *Client) recordAll(ctx context.Context, a *aheadSealer, upKey []byte, r *uploadRecord, sealed <-chan *sealedBatch) {
	var group []*sealedBatch
	for b := range sealed {
		group = append(group[:0], b)
	gather:
		for b.err == nil {
			select {
			case next, ok := <-sealed:
				if !ok {
					break gather
				}
				b, group = next, append(group, next)
			default:
				break gather
			}
		}
		var err error
		for _, g := range group {
			if g.err == nil {
				for _, h := range g.hashes {
					r.Hashes = append(r.Hashes, h[:]...)
				}
			}
		}
		if group[0].err == nil {
			err = c.record(ctx, upKey, r)
		}
		for _, g := range group {
			if err != nil && g.err == nil {
				g.err = fmt.Errorf("%w: %w", errSealing, err)
			}
			failed := g.err != nil // g is the sender's once handed over: not read after
			select {
			case a.ready <- g:
			case <-a.stop:
				return
			}
			if failed {
				return
			}
		}
	}
}

// sealWorkers bounds the goroutines that seal one batch's chunks at once:
// sealing (reading, ChaCha20-Poly1305, SHA-256) sets the pace of a fresh
// upload, and the sender waited on it with one core idle.
var sealWorkers = min(runtime.GOMAXPROCS(0), 4)

// seal seals chunks [start, end) into b, reusing its buffers, on up to
// sealWorkers goroutines.
func (b *sealedBatch) seal(s *attach.Sealer, start, end int) {
	n := end - start
	b.start, b.err = start, nil
	b.chunks = b.chunks[:cap(b.chunks)] // the buffers of a longer batch are kept
	if len(b.chunks) < n {
		// One slab for the new buffers, its pages populated in one call
		// rather than faulted in one by one as the file is read into them.
		k := n - len(b.chunks)
		slab := make([]byte, k*attach.MaxSealedChunk)
		populate(slab)
		for i := range k {
			b.chunks = append(b.chunks, slab[i*attach.MaxSealedChunk:i*attach.MaxSealedChunk:(i+1)*attach.MaxSealedChunk])
		}
	}
	b.hashes = slices.Grow(b.hashes[:0], n)[:n]
	errs := make([]error, n)
	var next atomic.Int64
	work := func() {
		for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
			ct, h, err := s.Seal(start+k, b.chunks[k])
			if err != nil {
				errs[k] = err
				continue
			}
			b.chunks[k], b.hashes[k] = ct, h
		}
	}
	var wg sync.WaitGroup
	for range min(sealWorkers, n) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	b.chunks = b.chunks[:n]
	if err := errors.Join(errs...); err != nil {
		b.err = fmt.Errorf("%w: %w", errSealing, err)
	}
}

// record stores rec under upKey.
func (c *Client) record(ctx context.Context, upKey []byte, rec *uploadRecord) error {
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	t.put(uploadNS, upKey, rec)
	return t.commit()
}

// chunk returns chunk i sealed and its hash. The chunks no record listed
// when the upload started must be asked for in index order, each once;
// the result is valid until a chunk of a later batch is asked for.
func (a *aheadSealer) chunk(ctx context.Context, i int) ([]byte, attach.Hash, error) {
	for a.cur == nil || i >= a.cur.start+len(a.cur.chunks) {
		if a.err != nil {
			return nil, attach.Hash{}, a.err
		}
		if a.cur != nil {
			a.free <- a.cur // cap aheadBuffers: never blocks
			a.cur = nil
		}
		select {
		case b := <-a.ready:
			if b.err != nil {
				a.err = b.err
				return nil, attach.Hash{}, b.err
			}
			a.cur = b
		case <-ctx.Done():
			return nil, attach.Hash{}, ErrOffline
		}
	}
	if i < a.cur.start {
		return nil, attach.Hash{}, fmt.Errorf("client: chunk %d asked for after chunk %d", i, a.cur.start)
	}
	return a.cur.chunks[i-a.cur.start], a.cur.hashes[i-a.cur.start], nil
}

// close stops the sealing goroutine and waits for it to end.
func (a *aheadSealer) close() {
	close(a.stop)
	<-a.ended
}
