package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// BlobStore keeps encrypted attachment chunks, addressed by the SHA-256 of
// their bytes (docs/spec/attachments.md). PutChunk must return only once
// the chunk is durable, and must not keep data after it returns (the
// server reuses the buffer); it may refuse bytes that do not hash to h.
// GetChunk's error wraps fs.ErrNotExist for a chunk it does not hold.
// store/blobfs is the filesystem implementation; an S3-compatible one
// (MinIO or Garage through minio-go) would satisfy the same interface.
type BlobStore interface {
	PutChunk(ctx context.Context, h [32]byte, data []byte) error
	HasChunk(ctx context.Context, h [32]byte) (bool, error)
	GetChunk(ctx context.Context, h [32]byte) ([]byte, error)
}

// BlobParts is a BlobStore that also takes and serves chunks in parts
// (docs/spec/attachments.md §5.1): store/blobfs is one. Without it, the
// server serves parts by slicing whole chunks and refuses PutChunkPart.
type BlobParts interface {
	// PutChunkPart appends data at off to the partial copy of chunk h of
	// size bytes if off is where it ends, calls charge before starting a
	// new partial copy, and returns how many bytes it holds (size once the
	// chunk is stored and durable). Complete bytes that do not hash to h
	// are dropped with an error wrapping fs.ErrInvalid.
	PutChunkPart(ctx context.Context, h [32]byte, size, off int64, data []byte, charge func() error) (int64, error)
	// ReadChunkAt returns up to n bytes of chunk h from off.
	ReadChunkAt(ctx context.Context, h [32]byte, off int64, n int) ([]byte, error)
}

// BlobChecked is a BlobStore with a faster path for the server's hot
// loops (store/blobfs is one): PutCheckedChunk is PutChunk for bytes the
// caller has already checked against h (the server hashes every chunk
// before anything is written; this saves the store hashing it again), and
// ReadChunk is GetChunk into buf's storage when it has room, with the
// bytes checked by the store against what it recorded when it stored them
// (blobfs: the CRC-32C of the record, not SHA-256). That is enough: the
// address was checked with SHA-256 before the chunk was stored, and the
// client checks the SHA-256 and the AEAD tag of every chunk it fetches,
// so the store's check is against the disk's damage, not against someone
// who can write the disk (docs/spec/attachments.md §5.2, §6).
type BlobChecked interface {
	PutCheckedChunk(ctx context.Context, h [32]byte, data []byte) error
	ReadChunk(ctx context.Context, h [32]byte, buf []byte) ([]byte, error)
}

// BlobExpirer is a BlobStore that can drop chunks not stored or asked for
// since before; the server calls it every JanitorInterval.
type BlobExpirer interface {
	ExpireChunks(ctx context.Context, before time.Time) (n int, bytes int64, err error)
}

// BlobQuota, if set in Config, is asked before a new chunk of n bytes is
// stored for account. A non-nil error refuses the chunk: a *wire.Error is
// sent as it is (e.g. CodeStorageFull), anything else as QuotaExceeded.
type BlobQuota interface {
	ChargeBlob(ctx context.Context, account store.AccountID, n int64) error
}

// maxPuts bounds the PutChunks one session stores at once; past it the
// reader waits (and TCP pushes back on the client).
const maxPuts = 32

// putChunkAsync stores a PutChunk of a registered device on its own
// goroutine, so that a session's chunks are synced to disk concurrently
// (their fsyncs share the file system's journal commits) and answered as
// each is durable, possibly out of order (wire.md, "Blobs"). It reports
// whether it took the frame; the reader goroutine calls it. GetChunk stays
// in order: a downloading client counts on its answers arriving in the
// order it asked (client/attach_round.go), so that after a cut the chunks
// lost are the last ones it asked for.
// The chunk's bytes are part of msg (wire.DecodeShared), which goes back
// to the secure channel's pool once the chunk is stored.
func (ss *session) putChunkAsync(f wire.Frame, msg []byte) bool {
	m, ok := f.Msg.(*wire.PutChunk)
	if !ok || ss.srv.cfg.Blobs == nil || ss.needDevice() != nil {
		return false // dispatch answers
	}
	if ss.puts == nil {
		ss.puts = make(chan struct{}, maxPuts)
	}
	ss.puts <- struct{}{}
	go func() {
		defer func() { <-ss.puts }()
		resp := ss.putChunk(m)
		m.Data = nil
		securechan.ReleaseMessage(msg)
		ss.reply(f.RequestID, resp)
	}()
	return true
}

// dispatchBlob answers the blob requests of a registered device.
func (ss *session) dispatchBlob(m wire.Message) (wire.Message, bool) {
	switch m := m.(type) {
	case *wire.PutChunk:
		return ss.putChunk(m), true
	case *wire.HasChunks:
		return ss.hasChunks(m), true
	case *wire.GetChunk:
		return ss.getChunk(m), true
	case *wire.GetChunkPart:
		return ss.getChunkPart(m), true
	case *wire.PutChunkPart:
		return ss.putChunkPart(m), true
	}
	return nil, false
}

func (ss *session) blobs() (BlobStore, *wire.Error) {
	if ss.srv.cfg.Blobs == nil {
		return nil, wire.Errorf(wire.CodeNotFound, "this server does not store files; ask its operator to enable the blob store")
	}
	return ss.srv.cfg.Blobs, nil
}

// putChunk checks the hash before anything is written, charges the quota
// for a chunk the server does not hold yet, and answers once it is durable.
func (ss *session) putChunk(m *wire.PutChunk) wire.Message {
	b, e := ss.blobs()
	if e != nil {
		return e
	}
	sum := sha256.Sum256(m.Data)
	if subtle.ConstantTimeCompare(sum[:], m.Hash[:]) != 1 {
		return wire.Errorf(wire.CodeBadRequest, "the chunk's bytes do not hash to its address; nothing was stored")
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	have, err := b.HasChunk(ctx, m.Hash)
	if err != nil {
		return ss.blobError("look up chunk", err)
	}
	if !have {
		if e := ss.chargeBlob(ctx, int64(len(m.Data))); e != nil {
			return e
		}
		put := b.PutChunk
		if c, ok := b.(BlobChecked); ok {
			put = c.PutCheckedChunk // checked above
		}
		if err := put(ctx, m.Hash, m.Data); err != nil {
			return ss.blobError("store chunk", err)
		}
	}
	return &wire.ChunkStored{Hash: m.Hash}
}

func (ss *session) chargeBlob(ctx context.Context, n int64) *wire.Error {
	q := ss.srv.cfg.BlobQuota
	if q == nil {
		return nil
	}
	d, err := ss.srv.cfg.Store.Device(ctx, ss.device)
	if err != nil {
		return ss.storeError("device lookup", err)
	}
	if err := q.ChargeBlob(ctx, d.Account, n); err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return we
		}
		return wire.Errorf(wire.CodeQuotaExceeded, "this account's storage for files is used up; delete or wait for old files to expire")
	}
	return nil
}

func (ss *session) hasChunks(m *wire.HasChunks) wire.Message {
	b, e := ss.blobs()
	if e != nil {
		return e
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	out := &wire.ChunksHeld{Held: make([]bool, len(m.Hashes))}
	for i, h := range m.Hashes {
		ok, err := b.HasChunk(ctx, h)
		if err != nil {
			return ss.blobError("look up chunks", err)
		}
		out.Held[i] = ok
	}
	return out
}

func (ss *session) getChunk(m *wire.GetChunk) wire.Message {
	resp, _ := ss.readChunk(m) // the answer keeps the buffer: not given back
	return resp
}

func sameHash(a, b [32]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

// chunkBuffers hold chunks read for a GetChunk answer until it is sent,
// after room for the start of the answer's frame: the store reads the
// chunk into its place in the frame (chunkFrame).
var chunkBuffers = sync.Pool{New: func() any { b := make([]byte, wire.ChunkPrefixSize+wire.MaxChunk); return &b }}

// putChunkBuffer gives back a buffer of readChunk (nil: none).
func putChunkBuffer(buf *[]byte) {
	if buf != nil {
		chunkBuffers.Put(buf)
	}
}

// readChunk answers m; with a BlobChecked store the chunk is read into a
// pooled buffer, buf, to give back (putChunkBuffer) once the answer is sent.
func (ss *session) readChunk(m *wire.GetChunk) (resp wire.Message, buf *[]byte) {
	b, e := ss.blobs()
	if e != nil {
		return e, nil
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	var data []byte
	var err error
	checked := false
	if c, ok := b.(BlobChecked); ok {
		buf = chunkBuffers.Get().(*[]byte)
		data, err = c.ReadChunk(ctx, m.Hash, (*buf)[wire.ChunkPrefixSize:wire.ChunkPrefixSize])
		checked = true
	} else {
		data, err = b.GetChunk(ctx, m.Hash)
	}
	if err != nil {
		putChunkBuffer(buf)
		return ss.blobError("fetch chunk", err), nil
	}
	// The server does not serve bytes damaged on its disk: a BlobChecked
	// store checked them as it read them (blobfs: CRC-32C of the record
	// written when the SHA-256 address was checked); other stores' bytes
	// are checked against the address here. The client checks every
	// chunk's SHA-256 and AEAD tag itself.
	if len(data) == 0 || len(data) > wire.MaxChunk || !checked && !sameHash(sha256.Sum256(data), m.Hash) {
		putChunkBuffer(buf)
		return wire.Errorf(wire.CodeNotFound, "this chunk is not stored here (it may have expired); ask the sender to send the file again"), nil
	}
	return &wire.Chunk{Hash: m.Hash, Data: data}, buf
}

// chunkFrame returns the frame of resp, the answer to requestID, laid out
// in buf when readChunk read the chunk into its place there; nil
// otherwise (then the answer is encoded as any other).
func chunkFrame(requestID uint32, resp wire.Message, buf *[]byte) []byte {
	c, ok := resp.(*wire.Chunk)
	if !ok || buf == nil || len(c.Data) == 0 || &c.Data[0] != &(*buf)[wire.ChunkPrefixSize] {
		return nil
	}
	if wire.PutChunkPrefix(*buf, requestID, c.Hash, len(c.Data)) != nil {
		return nil
	}
	return (*buf)[:wire.ChunkPrefixSize+len(c.Data)]
}

// getChunkPart serves part of a chunk. A store with BlobParts reads only
// that part and does not re-check the chunk's hash; the client checks the
// whole chunk before it uses any of it.
func (ss *session) getChunkPart(m *wire.GetChunkPart) wire.Message {
	b, e := ss.blobs()
	if e != nil {
		return e
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	var data []byte
	var err error
	if p, ok := b.(BlobParts); ok {
		data, err = p.ReadChunkAt(ctx, m.Hash, int64(m.Offset), int(m.Length))
	} else if resp := ss.getChunk(&wire.GetChunk{Hash: m.Hash}); resp.Type() != wire.TypeChunk {
		return resp
	} else {
		whole := resp.(*wire.Chunk).Data
		data = whole[min(int(m.Offset), len(whole)):min(int(m.Offset)+int(m.Length), len(whole))]
	}
	if err != nil {
		return ss.blobError("fetch chunk", err)
	}
	return &wire.ChunkPart{Hash: m.Hash, Offset: m.Offset, Data: data}
}

// putChunkPart stores part of a chunk; the chunk's hash is checked once
// the server has every byte of it, and the quota is charged when a new
// partial copy starts.
func (ss *session) putChunkPart(m *wire.PutChunkPart) wire.Message {
	b, e := ss.blobs()
	if e != nil {
		return e
	}
	p, ok := b.(BlobParts)
	if !ok {
		return wire.Errorf(wire.CodeNotFound, "this server's file store takes whole chunks only; send the file over a path that does not freeze")
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	have, err := p.PutChunkPart(ctx, m.Hash, int64(m.Size), int64(m.Offset), m.Data, func() error {
		if e := ss.chargeBlob(ctx, int64(m.Size)); e != nil {
			return e
		}
		return nil
	})
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		return we
	case errors.Is(err, fs.ErrInvalid):
		return wire.Errorf(wire.CodeBadRequest, "the chunk's bytes do not hash to its address; nothing was stored")
	case err != nil:
		return ss.blobError("store chunk", err)
	}
	return &wire.ChunkPartStored{Hash: m.Hash, Have: uint32(have)}
}

func (ss *session) blobError(op string, err error) *wire.Error {
	if errors.Is(err, fs.ErrNotExist) {
		return wire.Errorf(wire.CodeNotFound, "this chunk is not stored here (it may have expired); ask the sender to send the file again")
	}
	ss.srv.log.Error("blob store failed", "op", op, "err", err)
	e := wire.Errorf(wire.CodeInternal, "%s failed on the server; retry later", op)
	e.RetryAfter = 5
	return e
}

// blobJanitor expires chunks every JanitorInterval until ctx ends: a chunk
// lives BlobRetention after it was last stored or asked for.
func (s *Server) blobJanitor(ctx context.Context) {
	x, ok := s.cfg.Blobs.(BlobExpirer)
	if !ok {
		return
	}
	s.everyJanitorInterval(ctx, func() {
		n, bytes, err := x.ExpireChunks(ctx, s.cfg.Now().Add(-s.blobRetention()))
		if err != nil && ctx.Err() == nil {
			s.log.Error("blob expiry failed", "err", err)
		} else if n > 0 {
			s.log.Info("expired", "chunks", n, "bytes", bytes)
		}
	})
}

// blobRetention is BlobRetention, or by default the mailbox retention: the
// longest an undelivered message naming a chunk can wait.
func (s *Server) blobRetention() time.Duration {
	if s.cfg.BlobRetention > 0 {
		return s.cfg.BlobRetention
	}
	return time.Duration(s.cfg.Limits.MailboxRetention) * time.Second
}
