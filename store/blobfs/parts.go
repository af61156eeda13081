package blobfs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Chunk parts (docs/spec/attachments.md §5.1): on a path that freezes a
// connection after a few KB, a chunk comes and goes in parts. A partial
// upload is a file under part/, named like a chunk, that grows only at its
// end; once it holds the whole chunk, it is checked and stored as PutChunk
// stores a chunk (in a pack), and the partial file removed. A partial file is not synced: after a crash the server
// may hold fewer bytes than it acknowledged, and the client, told where
// the partial copy ends, sends the rest from there. Partial files expire
// like chunks (ExpireChunks walks part/ too).

// partLocks serialize the parts of one chunk (by the hash's first byte).
var partLocks [256]sync.Mutex

func (s *Store) partPath(h [32]byte) string {
	return filepath.Join(s.dir, "part", hex.EncodeToString(h[:]))
}

// PutChunkPart appends data at off to the partial copy of chunk h of size
// bytes, if off is where that copy ends, and returns how many bytes of the
// chunk the store holds from its start (size once the chunk is stored and
// durable). charge is called before a new partial copy is started; its
// error refuses the part. Bytes that do not hash to h once complete are
// dropped and ErrHashMismatch returned.
func (s *Store) PutChunkPart(ctx context.Context, h [32]byte, size, off int64, data []byte, charge func() error) (int64, error) {
	if size <= 0 || off < 0 || off+int64(len(data)) > size {
		return 0, fmt.Errorf("blobfs: a part at %d of %d bytes lies outside its chunk of %d", off, len(data), size)
	}
	if s.held(h) {
		return size, nil
	}
	mu := &partLocks[h[0]]
	mu.Lock()
	defer mu.Unlock()
	p := s.partPath(h)
	have, fresh := int64(0), true
	if st, err := os.Stat(p); err == nil {
		have, fresh = st.Size(), false
	}
	if have > size { // a partial copy for another size: the hash says they cannot both be right
		have = 0
	}
	if off != have || len(data) == 0 {
		return have, nil
	}
	if fresh {
		if err := charge(); err != nil {
			return 0, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return 0, fmt.Errorf("blobfs: creating the part directory: %w", err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("blobfs: opening a partial chunk: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		return 0, fmt.Errorf("blobfs: writing a partial chunk: %w", err)
	}
	if have = off + int64(len(data)); have < size {
		return have, f.Truncate(have)
	}
	whole := make([]byte, size)
	if _, err := f.ReadAt(whole, 0); err != nil {
		return 0, fmt.Errorf("blobfs: reading a partial chunk: %w", err)
	}
	err = s.PutChunk(ctx, h, whole)
	if err == nil || errors.Is(err, ErrHashMismatch) {
		os.Remove(p) // stored in a pack, or bytes that are not the chunk
	}
	if err != nil {
		return 0, err
	}
	return size, nil
}

// ReadChunkAt returns up to n bytes of chunk h from off (fewer at its
// end). Unlike GetChunk it does not check the bytes (the reader checks
// the whole chunk once it has every part). The error wraps fs.ErrNotExist
// when the chunk is not stored.
func (s *Store) ReadChunkAt(ctx context.Context, h [32]byte, off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("blobfs: a part at %d of %d bytes", off, n)
	}
	if l, ok := s.lookup(h); ok {
		b := make([]byte, max(0, min(int64(n), int64(l.n)-off)))
		for err := s.readPack(l.p, b, l.off+off); err != nil; err = s.readPack(l.p, b, l.off+off) {
			if l, ok = s.moved(h, l); !ok {
				return nil, fmt.Errorf("blobfs: reading a chunk: %w", err)
			}
		}
		return b, nil
	}
	if !s.legacy {
		return nil, fmt.Errorf("blobfs: reading a chunk: %w", fs.ErrNotExist)
	}
	f, size, err := openSized(s.path(h), os.O_RDONLY) // a chunk file: it ends where the file ends
	if err != nil {
		return nil, fmt.Errorf("blobfs: reading a chunk: %w", err)
	}
	defer f.Close()
	b := make([]byte, max(0, min(int64(n), size-off)))
	k, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("blobfs: reading a chunk: %w", err)
	}
	return b[:k], nil
}
