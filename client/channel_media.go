package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/channel"
)

// The media of channel posts (docs/spec/channels.md §3a): a media post
// carries an attachment descriptor, signed with the post; its chunks are
// on the channel's server and on the relays that mirror the channel.

// ChannelFile is what a reader sees of a media post's file.
type ChannelFile struct {
	Ref       string // hex SHA-256 of the descriptor, first 16 bytes (as FileInfo.Ref)
	Name      string
	Size      int64
	MediaType string
	Width     uint32
	Height    uint32
	Thumbnail bool
}

func channelFileOf(desc []byte, a *attach.Attachment) *ChannelFile {
	return &ChannelFile{Ref: fileRef(desc), Name: a.Name, Size: a.Size, MediaType: a.MediaType,
		Width: a.Width, Height: a.Height, Thumbnail: len(a.Thumbnail) > 0}
}

// MediaPost returns the verified media post seq and its attachment; a
// post the channel deleted has none.
func (f *Follower) MediaPost(seq uint64) (*channel.Media, *attach.Attachment, error) {
	f.mu.Lock()
	p := f.posts[seq]
	deleted := false
	for _, d := range f.posts {
		deleted = deleted || (d.Kind == channel.KindDelete && d.Target == seq)
	}
	f.mu.Unlock()
	if deleted {
		return nil, nil, fmt.Errorf("client: post #%d of %q was deleted by the channel", seq, f.link.Name)
	}
	if p == nil {
		return nil, nil, fmt.Errorf("client: channel %q has no post #%d here; read the channel first (samizdat channel read)", f.link.Name, seq)
	}
	if p.Kind != channel.KindMedia {
		return nil, nil, fmt.Errorf("client: post #%d of %q carries no file", seq, f.link.Name)
	}
	return p.Media()
}

// DownloadMedia fetches the file of media post seq into dir and returns
// its path. Its chunks come from the channel's server or, when the server
// is unreachable or lacks one, from the link's mirrors in order. Every
// chunk is checked against its hash in the signed post and opened (AEAD)
// before it is written: a source that serves an altered chunk is dropped
// for the rest of the download; if no source serves a genuine copy of a
// chunk, the error wraps ErrFileAltered. As Download, it writes NAME.REF.part,
// resumes from the chunks already there, and renames the file into place
// once every chunk is verified, never over an existing file.
func (f *Follower) DownloadMedia(ctx context.Context, seq uint64, dir string, o *FileOptions) (string, error) {
	if o == nil {
		o = &FileOptions{}
	}
	m, a, err := f.MediaPost(seq)
	if err != nil {
		return "", err
	}
	op, err := attach.NewOpener(a)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	part, err := openPart(dir, a.Name, fileRef(m.Descriptor))
	if err != nil {
		return "", err
	}
	defer part.Close()
	missing := verifiedPart(op, part)
	pr := &progress{total: op.Count(), size: a.Size, on: o.OnProgress}
	pr.setDone(op.Count() - len(missing))
	var errs []error
	for src := range f.mediaSources(ctx, &errs) {
		if len(missing) == 0 {
			break
		}
		missing, err = fetchChunksFrom(ctx, src, op, a, part, missing, pr)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("client: downloading %q of post #%d: %d of %d chunks from no source: %w", a.Name, seq, len(missing), op.Count(), errors.Join(errs...))
	}
	return finishPart(part, dir, a)
}

// mediaSources yields connections to the channel's server (the follower's
// own while it works) and then to each of the link's mirrors; a source
// that cannot be reached is skipped (its error added to errs). Each
// connection it dialled is closed once the loop moves on.
func (f *Follower) mediaSources(ctx context.Context, errs *[]error) func(yield func(*ChannelConn) bool) {
	return func(yield func(*ChannelConn) bool) {
		if c := f.Conn(); c != nil && c.Err() == nil {
			if !yield(c) {
				return
			}
		} else if c, err := DialChannels(ctx, f.opts.Dialer, f.link.Server, f.opts.Key, nil); err == nil {
			more := yield(c)
			c.Close()
			if !more {
				return
			}
		} else {
			*errs = append(*errs, fmt.Errorf("the channel's server: %w", err))
		}
		for _, r := range f.link.Relays {
			c, err := DialChannels(ctx, f.opts.Dialer, r, f.opts.Key, nil)
			if err != nil {
				*errs = append(*errs, fmt.Errorf("mirror %s: %w", r, err))
				continue
			}
			more := yield(c)
			c.Close()
			if !more {
				return
			}
		}
	}
}

// mediaChunkTimeout bounds the wait for one chunk from one source: a
// source that stalls is left for the next (a 256 KiB chunk at 140 kbps
// takes about 15 s).
const mediaChunkTimeout = time.Minute

// fetchChunksFrom fetches the missing chunks from one source, in order,
// verifying and writing each; it returns the chunks still missing. It
// stops at the first chunk the source cannot give, and drops the source
// (error wrapping ErrFileAltered) at the first altered one.
func fetchChunksFrom(ctx context.Context, src *ChannelConn, op *attach.Opener, a *attach.Attachment, part *os.File, missing []int, pr *progress) ([]int, error) {
	for k, i := range missing {
		pr.sent(i)
		cctx, cancel := context.WithTimeout(ctx, mediaChunkTimeout)
		data, err := src.GetChunk(cctx, a.Chunks[i])
		cancel()
		if errors.Is(err, ErrChunkMismatch) {
			return missing[k:], fmt.Errorf("%w (chunk %d: %v)", ErrFileAltered, i, err)
		}
		if err != nil {
			return missing[k:], fmt.Errorf("chunk %d: %w", i, err)
		}
		plain, err := op.Open(i, data)
		if err != nil {
			return missing[k:], fmt.Errorf("%w (chunk %d: %v)", ErrFileAltered, i, err)
		}
		off, _ := op.Span(i)
		_, err = part.WriteAt(plain, off)
		clear(plain)
		if err != nil {
			return missing[k:], fmt.Errorf("client: writing %s: %w", part.Name(), err)
		}
		pr.finished(i)
	}
	return nil, nil
}

// MediaRoom is the room a media post's body leaves for the descriptor's
// chunk hashes: the body's limit less the caption, the descriptor's other
// fields and a margin (docs/spec/channels.md §3a).
func MediaRoom(caption string) int { return channel.MaxBody - len(caption) - 1024 }

// MediaPostBody is the body of a media post that carries the uploaded
// file up with caption. A descriptor too big for the post loses its
// thumbnail (the dimensions stay).
func MediaPostBody(up *Upload, caption string) ([]byte, error) {
	desc := up.Descriptor
	if len(desc) > MediaRoom(caption) {
		a := *up.Attachment
		a.Thumbnail = nil
		var err error
		if desc, err = a.Marshal(); err != nil {
			return nil, fmt.Errorf("client: describing the file: %w", err)
		}
	}
	return (&channel.Media{Caption: caption, Descriptor: desc}).Encode(), nil
}

// ChannelFileRef is the Ref of a media post's file (ChannelFile.Ref).
func ChannelFileRef(desc []byte) string { return fileRef(desc) }
