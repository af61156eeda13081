package blobfs

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// scanned is a record found in a pack file by scanPack; off is where its
// data starts.
type scanned struct {
	record
	off int64
}

// scanPack reads the record headers of the pack file at path (skipping
// each record's data by its length) and, if repair, cuts the file after
// its last whole record: a tail torn by a crash (a short record, a damaged
// header) goes.
// Damage followed by more records (pages written out of order before a
// power cut, a flipped bit) is skipped: the scan looks for the next valid
// header, and from there on checks every record's data against its
// SHA-256 address, since bytes that are not known to start a record may be
// a client's chunk that holds something shaped like a header.
func scanPack(path string, repair bool) (recs []scanned, err error) {
	mode := os.O_RDONLY
	if repair {
		mode = os.O_RDWR
	}
	f, end, err := openSized(path, mode)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hdr [headerSize]byte
	off, whole, verify := int64(0), int64(0), false
	for off < end {
		r, ok := readHeader(f, hdr[:], off, end)
		if ok && verify {
			ok = addressMatches(f, r, off+headerSize)
		}
		if ok {
			recs = append(recs, scanned{record: r, off: off + headerSize})
			off += headerSize + int64(r.n)
			whole = off
			continue
		}
		next, err := nextRecord(f, off+1, end)
		if err != nil {
			return nil, err
		}
		if next < 0 {
			break
		}
		off, verify = next, true
	}
	if whole < end && repair {
		if err := f.Truncate(whole); err != nil {
			return nil, fmt.Errorf("cutting a torn tail: %w", err)
		}
	}
	return recs, nil
}

// readHeader decodes the header at off if it is whole and its data ends
// within the file.
func readHeader(f *os.File, buf []byte, off, end int64) (record, bool) {
	if end-off < headerSize {
		return record{}, false
	}
	if _, err := f.ReadAt(buf, off); err != nil {
		return record{}, false
	}
	r, ok := decodeHeader(buf)
	if !ok || off+headerSize+int64(r.n) > end {
		return record{}, false
	}
	return r, true
}

// addressMatches reports whether the n bytes at off hash to r's address.
func addressMatches(f *os.File, r record, off int64) bool {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, int64(r.n))); err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(h.Sum(nil), r.hash[:]) == 1
}

// nextRecord returns the offset of the first record at or after from whose
// header is valid and whose data hashes to its address, or -1.
func nextRecord(f *os.File, from, end int64) (int64, error) {
	const window = 1 << 20
	buf := make([]byte, window+len(recordMagic)-1)
	var hdr [headerSize]byte
	for base := from; base < end; base += window {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), end-base)], base)
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("reading a damaged pack: %w", err)
		}
		for i := 0; ; {
			j := bytes.Index(buf[i:n], recordMagic[:])
			if j < 0 || i+j >= window {
				break
			}
			at := base + int64(i+j)
			if r, ok := readHeader(f, hdr[:], at, end); ok && addressMatches(f, r, at+headerSize) {
				return at, nil
			}
			i += j + 1
		}
	}
	return -1, nil
}

// Location is where a chunk's bytes lie: Size bytes at Offset in the file
// at Path.
type Location struct {
	Hash         [32]byte
	Path         string
	Offset, Size int64
}

// Locate lists the chunks stored under dir, in its pack files and as files
// of the old layout, without opening the store or changing anything (for
// an operator's tools and for tests that damage a chunk on disk).
func Locate(dir string) ([]Location, error) {
	var out []Location
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			if d.Name() == "tmp" || d.Name() == "part" {
				return filepath.SkipDir
			}
			return nil
		case filepath.Base(filepath.Dir(p)) == packsDir && strings.HasSuffix(d.Name(), ".pack"):
			recs, err := scanPack(p, false)
			if err != nil {
				return err
			}
			for _, r := range recs {
				out = append(out, Location{Hash: r.hash, Path: p, Offset: r.off, Size: int64(r.n)})
			}
		case len(d.Name()) == 64 && isHex(d.Name()):
			info, err := d.Info()
			if err != nil {
				return err
			}
			l := Location{Path: p, Size: info.Size()}
			hex.Decode(l.Hash[:], []byte(d.Name()))
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blobfs: listing the chunks of %s: %w", dir, err)
	}
	return out, nil
}

// FlipBit flips the lowest bit of the chunk's byte at at, on disk: what a
// test of damage on the server's disk does (a reading store must refuse
// the chunk).
func (l Location) FlipBit(at int64) error {
	if at < 0 || at >= l.Size {
		return fmt.Errorf("blobfs: byte %d is outside a chunk of %d", at, l.Size)
	}
	f, err := os.OpenFile(l.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, l.Offset+at); err != nil {
		return err
	}
	b[0] ^= 1
	_, err = f.WriteAt(b, l.Offset+at)
	return err
}
