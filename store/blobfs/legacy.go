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
	"time"
)

// The layout before pack files: one file per chunk, DIR/xx/<64 hex digits>
// (xx its first two), its mtime the chunk's clock. A store written by an
// older server still has them: they are found, served, refreshed and
// expired as before; nothing new is written this way.

func (s *Store) path(h [32]byte) string {
	x := hex.EncodeToString(h[:])
	return filepath.Join(s.dir, x[:2], x)
}

// hasLegacyDirs reports whether dir holds a chunk directory of the old
// layout (a two-hex-digit name).
func hasLegacyDirs(dir string) bool {
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if e.IsDir() && len(e.Name()) == 2 && isHex(e.Name()) {
			return true
		}
	}
	return false
}

func isHex(s string) bool { return strings.Trim(s, "0123456789abcdef") == "" }

// touchFile refreshes the expiry clock of the chunk or partial copy at p.
func (s *Store) touchFile(p string) error {
	now := s.now()
	return os.Chtimes(p, now, now)
}

// readLegacy reads the chunk file of h into buf's storage and checks it
// against h; a corrupt file is removed.
func (s *Store) readLegacy(h [32]byte, buf []byte) ([]byte, error) {
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
	s.touchFile(p)
	return b, nil
}

// openSized opens the file at p with flag and returns its size.
func openSized(p string, flag int) (*os.File, int64, error) {
	f, err := os.OpenFile(p, flag, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// readFileInto reads the file at p into buf's storage if it fits, else
// into a new buffer of its size.
func readFileInto(p string, buf []byte) ([]byte, error) {
	f, n, err := openSized(p, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
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

// expireFiles removes the chunk files and partial copies (part/) whose
// mtime is before before.
func (s *Store) expireFiles(ctx context.Context, before time.Time) (n int, bytes int64, err error) {
	err = filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished under us: nothing to expire
		}
		if d.IsDir() {
			if d.Name() == "tmp" || d.Name() == packsDir {
				return filepath.SkipDir
			}
			return ctx.Err()
		}
		if len(d.Name()) != 64 || !isHex(d.Name()) {
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
