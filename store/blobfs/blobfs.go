// Package blobfs is the default blob store: encrypted attachment chunks as
// files under one directory, named by the hex SHA-256 of their bytes
// (docs/spec/attachments.md, docs/operator-guide.md "Blobs"). A chunk is
// written to a temporary file, synced, renamed into place and its
// directory synced before Put returns, so an acknowledged chunk survives a
// crash. Chunks expire a retention period after they were last stored or
// asked for (Expire). It imports only the standard library.
package blobfs

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrHashMismatch: the bytes are not the chunk the hash names. It wraps
// fs.ErrInvalid (what server.BlobParts asks for).
var ErrHashMismatch = fmt.Errorf("blobfs: chunk does not match its hash: %w", fs.ErrInvalid)

// Store keeps chunks under Dir. Its methods are safe for concurrent use:
// every write is a rename of a complete file.
type Store struct {
	dir  string
	now  func() time.Time
	made sync.Map // chunk directories known to exist: one MkdirAll each, not one per chunk
}

// Open creates dir (mode 0700) if needed and returns its store. now is the
// clock (time.Now if nil).
func Open(dir string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blobfs: creating %s: %w", dir, err)
	}
	// Temporary files of a crash are garbage.
	if old, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil {
		for _, e := range old {
			os.Remove(filepath.Join(dir, "tmp", e.Name()))
		}
	}
	return &Store{dir: dir, now: now}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(h [32]byte) string {
	x := hex.EncodeToString(h[:])
	return filepath.Join(s.dir, x[:2], x)
}

// PutChunk checks that data hashes to h and stores it durably. Storing a
// chunk that is already there only refreshes its expiry.
func (s *Store) PutChunk(ctx context.Context, h [32]byte, data []byte) error {
	sum := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(sum[:], h[:]) != 1 {
		return ErrHashMismatch
	}
	return s.PutCheckedChunk(ctx, h, data)
}

// PutCheckedChunk is PutChunk for bytes the caller has already checked
// against h: the server hashes each chunk before it stores it, and a
// second hash here would only cost time. It keeps no reference to data.
func (s *Store) PutCheckedChunk(ctx context.Context, h [32]byte, data []byte) error {
	p := s.path(h)
	if s.touch(p) == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := s.made.Load(filepath.Dir(p)); !ok {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("blobfs: creating a chunk directory: %w", err)
		}
		s.made.Store(filepath.Dir(p), true)
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return fmt.Errorf("blobfs: creating a chunk: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.touch(tmp) // the expiry clock starts now
	}
	if err == nil {
		err = os.Rename(tmp, p)
		if errors.Is(err, fs.ErrNotExist) { // the directory was removed under us
			s.made.Delete(filepath.Dir(p))
			if err = os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
				err = os.Rename(tmp, p)
			}
		}
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("blobfs: writing a chunk: %w", err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("blobfs: syncing a chunk directory: %w", err)
	}
	return nil
}

// touch refreshes the expiry clock of the chunk at p.
func (s *Store) touch(p string) error {
	now := s.now()
	return os.Chtimes(p, now, now)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// HasChunk reports whether h is stored, and if so refreshes its expiry (a
// client about to reference it in a message asks first).
func (s *Store) HasChunk(ctx context.Context, h [32]byte) (bool, error) {
	err := s.touch(s.path(h))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("blobfs: looking up a chunk: %w", err)
}

// GetChunk returns the chunk h, re-checked against its hash (a corrupt
// file is removed and reported as not found). The error wraps
// fs.ErrNotExist when the chunk is not stored.
func (s *Store) GetChunk(ctx context.Context, h [32]byte) ([]byte, error) {
	return s.ReadChunk(ctx, h, nil)
}

// ReadChunk is GetChunk into buf's storage when the chunk fits in its
// capacity (a new buffer otherwise), so that a caller that reuses buffers
// allocates nothing per chunk.
func (s *Store) ReadChunk(ctx context.Context, h [32]byte, buf []byte) ([]byte, error) {
	p := s.path(h)
	b, err := readFileInto(p, buf)
	if err != nil {
		return nil, fmt.Errorf("blobfs: reading a chunk: %w", err)
	}
	sum := sha256.Sum256(b)
	if subtle.ConstantTimeCompare(sum[:], h[:]) != 1 {
		os.Remove(p)
		return nil, fmt.Errorf("blobfs: a stored chunk was corrupt and is removed: %w", fs.ErrNotExist)
	}
	return b, nil
}

// readFileInto reads the file at p into buf's storage if it fits, else
// into a new buffer of its size.
func readFileInto(p string, buf []byte) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := st.Size()
	if n < 0 || n > int64(cap(buf)) {
		buf = make([]byte, 0, n)
	}
	b := buf[:n]
	got, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return b[:got], nil // a file cut short fails the hash check
}

// ExpireChunks removes the chunks not stored or asked for since before,
// and returns how many it removed and their bytes.
func (s *Store) ExpireChunks(ctx context.Context, before time.Time) (n int, bytes int64, err error) {
	err = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished under us: nothing to expire
		}
		if d.IsDir() {
			if d.Name() == "tmp" {
				return filepath.SkipDir
			}
			return ctx.Err()
		}
		if len(d.Name()) != 64 || strings.Trim(d.Name(), "0123456789abcdef") != "" {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(before) {
			return nil
		}
		if os.Remove(p) == nil {
			n++
			bytes += info.Size()
		}
		return nil
	})
	return n, bytes, err
}
