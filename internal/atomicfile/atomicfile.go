// Package atomicfile replaces a file's contents all at once: a reader (or
// a restart after a crash) finds either the old contents or the new ones,
// never a torn mix of the two.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces the file at path with data. It writes data to a new
// hidden file in the same directory (created with perm, less the umask),
// syncs it to disk and renames it over path; on any error it removes the
// new file and leaves path as it was. The directory is not synced, so
// after a power cut path may still hold the old contents, but never part
// of the new ones.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := createTemp(path, perm)
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := fill(f, data); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	if err := rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: replacing %s: %w", path, err)
	}
	return nil
}

// WriteNew creates the file at path, which must not exist yet, with data
// and perm, and syncs it; on any error it removes what it created. A key
// or secret written this way is never found half-written after a crash
// that happened after WriteNew returned.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("atomicfile: creating %s: %w", path, err)
	}
	if err := fill(f, data); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	return nil
}

// fill writes data to the new file f, syncs and closes it; on an error it
// removes the file.
func fill(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// rename is os.Rename; tests make it fail.
var rename = os.Rename

// createTemp creates a new file beside path, named ".NAME.tmp" and a
// random suffix, with perm (os.CreateTemp would always use 0600).
func createTemp(path string, perm os.FileMode) (*os.File, error) {
	prefix := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	var suffix [6]byte
	for try := 0; ; try++ {
		rand.Read(suffix[:])
		f, err := os.OpenFile(prefix+hex.EncodeToString(suffix[:]), os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) && try < 10 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("atomicfile: creating a temporary file for %s: %w", path, err)
		}
		return f, nil
	}
}
