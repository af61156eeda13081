package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestAtomicWrite(t *testing.T) {
	tests := []struct {
		name string
		old  []byte // nil: no file before
		data []byte
		perm os.FileMode
	}{
		{name: "new file", data: []byte("hello\n"), perm: 0o600},
		{name: "replaces a longer file", old: []byte("a much longer old text\n"), data: []byte("new\n"), perm: 0o600},
		{name: "replaces with nothing", old: []byte("old\n"), data: []byte{}, perm: 0o600},
		{name: "public mode", data: []byte("public\n"), perm: 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			if tt.old != nil {
				if err := os.WriteFile(path, tt.old, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(path, tt.data, tt.perm); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.data) {
				t.Errorf("file holds %q, want %q", got, tt.data)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := writeFileMode(t, tt.perm); st.Mode().Perm() != want {
				t.Errorf("mode %v, want %v (as os.WriteFile makes it)", st.Mode().Perm(), want)
			}
			onlyFile(t, dir)
		})
	}
}

// TestAtomicWriteFailureKeepsOldFile: when the new file cannot take the old
// one's place, the old contents stay and no temporary file is left.
func TestAtomicWriteFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	rename = func(string, string) error { return boom }
	t.Cleanup(func() { rename = os.Rename })
	err := Write(path, []byte("new\n"), 0o600)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "atomicfile: ") {
		t.Fatalf("Write = %v, want an atomicfile error wrapping %v", err, boom)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "old\n" {
		t.Errorf("after a failed write the file holds %q, want the old %q", got, "old\n")
	}
	onlyFile(t, dir)
}

func TestAtomicWriteNoDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "file")
	err := Write(path, []byte("x"), 0o600)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Write into a missing directory = %v, want ErrNotExist", err)
	}
}

// TestAtomicWriteReadOnlyDirectory: a directory the process may not write to
// fails the write and keeps the old file.
func TestAtomicWriteReadOnlyDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	if os.Geteuid() == 0 {
		// Root writes through a directory's mode bits, so as root the
		// directory is a tmpfs remounted read-only instead.
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatalf("as root, mounting a tmpfs to make a read-only directory: %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	}
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Fatalf("remounting the tmpfs read-only: %v", err)
		}
	} else {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
	}
	if err := Write(path, []byte("new\n"), 0o600); err == nil {
		t.Fatal("Write into a read-only directory succeeded")
	}
	if got, _ := os.ReadFile(path); string(got) != "old\n" {
		t.Errorf("after a failed write the file holds %q, want the old one", got)
	}
}

// onlyFile fails unless dir holds just "file": no temporary file is left.
func onlyFile(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "file" {
		t.Errorf("directory holds %v, want only [file]", names)
	}
}

// writeFileMode is the mode os.WriteFile gives a new file made with perm
// (perm less the umask).
func writeFileMode(t *testing.T, perm os.FileMode) os.FileMode {
	t.Helper()
	p := filepath.Join(t.TempDir(), "reference")
	if err := os.WriteFile(p, nil, perm); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestAtomicWriteNew: WriteNew creates a file with the contents and mode
// asked, and refuses one that exists, leaving it as it was.
func TestAtomicWriteNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := WriteNew(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "secret" {
		t.Fatalf("read %q, %v; want \"secret\"", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := WriteNew(path, []byte("other"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WriteNew over an existing file: %v; want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "secret" {
		t.Fatalf("the existing file now holds %q", b)
	}
}
