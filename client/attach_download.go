package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// ErrFileAltered: a chunk the server served is not the one the sender
// sealed (docs/spec/attachments.md §2). Nothing of it was written.
var ErrFileAltered = errors.New("client: a chunk of this file was altered on the server or on the way; nothing of it was saved; ask the sender to send the file again")

// Download fetches the file of message id into dir and returns its path
// (docs/spec/attachments.md §5). It writes to NAME.part, checks every chunk
// against the descriptor before writing it, resumes from the chunks already
// in NAME.part (each re-verified) after a disconnect or a new attempt, and
// renames the file into place only once it is complete. An existing file
// is never overwritten: the name gets a number.
func (c *Client) Download(ctx context.Context, id int64, dir string, o *FileOptions) (string, error) {
	if o == nil {
		o = &FileOptions{}
	}
	m, _, a, err := c.fileMessage(ctx, id)
	if err != nil {
		return "", err
	}
	if m.File.State == FileDownloaded && m.File.Path != "" {
		if _, err := os.Stat(m.File.Path); err == nil {
			return m.File.Path, nil
		}
	}
	op, err := attach.NewOpener(a)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	part, err := openPart(dir, a.Name, m.File.Ref)
	if err != nil {
		return "", err
	}
	defer part.Close()
	wb := startWriteback(part)
	defer wb.stop() // before part.Close (deferred calls run last first)
	partPath := part.Name()
	missing := verifiedPart(op, part)
	pr := &progress{total: op.Count(), size: a.Size, on: o.OnProgress}
	pr.setDone(op.Count() - len(missing))
	retries := o.Retries
	if retries == 0 {
		retries = 100
	}
	x := newTransfer()
	parts := map[int][]byte{} // an unfinished chunk fetched in parts (attach_parts.go)
	for fails := 0; len(missing) > 0; {
		sess, err := c.online(ctx)
		if err != nil {
			return "", err
		}
		var done chunkSet
		var writing sync.Mutex // one write at a time: concurrent writes to one file spin on its inode lock in the kernel
		save := func(i int, sealed []byte) error {
			plain, err := op.OpenInPlace(i, sealed) // sealed is this chunk's own copy
			if err != nil {
				return fmt.Errorf("%w (%v)", ErrFileAltered, err)
			}
			off, _ := op.Span(i)
			writing.Lock()
			_, err = part.WriteAt(plain, off)
			wb.wrote(len(plain))
			writing.Unlock()
			if err != nil {
				return fmt.Errorf("client: writing %s: %w", partPath, err)
			}
			clear(plain)
			done.add(i)
			pr.finished(i)
			return nil
		}
		var n int
		held := false
		if m := partMeter(sess); m != nil {
			n, err = downloadParts(ctx, sess, m, op, a.Chunks, missing, parts, save)
		} else {
			n, held, err = x.round(ctx, sess, missing, func(i int) (wire.Message, error) {
				pr.sent(i)
				return &wire.GetChunk{Hash: wire.ChunkHash(a.Chunks[i])}, nil
			}, func(i int, resp wire.Message) error {
				c := resp.(*wire.Chunk)
				err := save(i, c.Data)
				securechan.ReleaseMessage(c.Frame()) // written or refused: its frame is free
				return err
			})
		}
		missing = done.without(missing)
		if n > 0 {
			fails = 0
		} else {
			fails++
		}
		if err == nil {
			if held {
				x.next(sess)
			}
			continue
		}
		if errors.Is(err, ErrFileAltered) {
			return "", err
		}
		if err = c.transferError(ctx, "downloading the file", err, fails, retries); err != nil {
			return "", err
		}
	}
	final, err := finishPart(part, dir, a)
	if err != nil {
		return "", err
	}
	return final, c.setFileState(ctx, id, FileDownloaded, final)
}

// openPart opens (or creates) the partial file of a download of the file
// name into dir: NAME.REF.part, REF the first 8 hex digits of the
// descriptor's ref, so that two files of one name do not share one.
func openPart(dir, name, ref string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("client: creating %s: %w", dir, err)
	}
	p := filepath.Join(dir, name+"."+ref[:8]+".part")
	part, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("client: creating %s: %w", p, err)
	}
	return part, nil
}

// finishPart cuts a complete partial file to the file's size, syncs it and
// renames it into place under a free name in dir, which it returns.
func finishPart(part *os.File, dir string, a *attach.Attachment) (string, error) {
	if err := part.Truncate(a.Size); err != nil {
		return "", fmt.Errorf("client: finishing %s: %w", part.Name(), err)
	}
	if err := part.Sync(); err != nil {
		return "", fmt.Errorf("client: finishing %s: %w", part.Name(), err)
	}
	final, err := freeName(dir, saveName(a.Name))
	if err != nil {
		return "", err
	}
	if err := os.Rename(part.Name(), final); err != nil {
		return "", fmt.Errorf("client: saving the file: %w", err)
	}
	return final, nil
}

// verifiedPart returns the chunks part does not already hold correctly:
// every chunk present in full is re-sealed and compared with its hash.
func verifiedPart(op *attach.Opener, part *os.File) []int {
	st, err := part.Stat()
	have := int64(0)
	if err == nil {
		have = st.Size()
	}
	var missing []int
	buf := make([]byte, attach.ChunkSize)
	for i := range op.Count() {
		off, n := op.Span(i)
		if off+int64(n) > have {
			missing = append(missing, i)
			continue
		}
		b := buf[:n]
		if _, err := part.ReadAt(b, off); (err != nil && err != io.EOF) || !op.Verify(i, b) {
			missing = append(missing, i)
		}
	}
	clear(buf)
	return missing
}

// saveName is the name a received file is saved under: its own, made
// visible if it starts with a dot, so that a sender cannot plant a hidden
// file (.profile, .bashrc) in the download directory. The descriptor
// already refuses separators, "." and "..".
func saveName(name string) string {
	if strings.HasPrefix(name, ".") {
		return "_" + name
	}
	return name
}

// freeName returns dir/name, or dir/"base (k).ext" for the first k that
// does not exist.
func freeName(dir, name string) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for k := 0; k < 1000; k++ {
		n := name
		if k > 0 {
			n = fmt.Sprintf("%s (%d)%s", base, k, ext)
		}
		p := filepath.Join(dir, n)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("client: %s and 999 numbered copies exist in %s; choose another directory", name, dir)
}

// chunkSet is a set of chunk indexes safe for concurrent adds.
type chunkSet struct {
	mu   sync.Mutex // guards done
	done map[int]bool
}

func (s *chunkSet) add(i int) {
	s.mu.Lock()
	if s.done == nil {
		s.done = map[int]bool{}
	}
	s.done[i] = true
	s.mu.Unlock()
}

func (s *chunkSet) without(idx []int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, i := range idx {
		if !s.done[i] {
			out = append(out, i)
		}
	}
	return out
}
