package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/wire"
)

// TransferInFlight is how many chunks an upload or download keeps in
// flight on the session.
const TransferInFlight = 32

// Progress reports a transfer: Done of Total chunks, and how many chunk
// requests were sent in all (Sends > Done after resends).
type Progress struct {
	Done, Total int
	Sends       int
	MostSends   int   // the most times one chunk was sent (1 without resends)
	Bytes       int64 // bytes of the file covered by the done chunks
}

// FileOptions tune SendFile and Download.
type FileOptions struct {
	// OnProgress, if set, hears every finished chunk (from any goroutine,
	// one call at a time).
	OnProgress func(Progress)
	// Retries bounds the reconnections one transfer waits for (default 100).
	Retries int
	// CatchUp, if positive, has SendFile catch up with its chats while it
	// uploads (Sync with this quiet period: it ends once the backlog is
	// stored, at the server's mark, or on a quiet inbox from a server
	// without one) and resolve the chat after both: the catch-up then
	// overlaps the upload instead of coming before it.
	CatchUp time.Duration
}

// uploadNS keeps the key of an upload not finished yet, by file, so that a
// new attempt after a crash resumes with the chunks the server has.
const uploadNS = "upload"

// SendFile sends the file at path, with an optional caption, to a contact
// or group by name (docs/spec/attachments.md): it seals the file chunk by
// chunk, uploads the chunks the server lacks (several in flight, resuming
// after any disconnect), and then queues the descriptor as an MLS message.
// Flush waits until the server has that message. A name that is neither a
// chat nor a contact fails before anything is uploaded.
func (c *Client) SendFile(ctx context.Context, name, path, caption string, o *FileOptions) error {
	f, err := openUpload(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, err := c.findChat(ctx, name); err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	caughtUp := make(chan struct{})
	go func() {
		defer close(caughtUp)
		if o != nil && o.CatchUp > 0 {
			c.Sync(sctx, o.CatchUp)
		}
	}()
	up, err := c.upload(ctx, f, o)
	if err != nil {
		stop()
	}
	<-caughtUp
	stop()
	if err != nil {
		return err
	}
	defer clear(up.Descriptor)
	ch, err := c.chatForSend(ctx, name)
	if err != nil {
		return err
	}
	return c.sendFileMessage(ctx, ch, name, caption, up.Descriptor, up.Attachment, up.path, up.upKey)
}

// Upload is a file whose chunks the server holds (UploadFile).
type Upload struct {
	Attachment *attach.Attachment
	Descriptor []byte // Attachment, encoded
	path       string // absolute
	upKey      []byte // the local store key of the unfinished upload
}

// UploadFile seals the file at path and uploads its chunks as SendFile
// does (resuming an unfinished upload of the same, unchanged file), and
// returns its descriptor without sending it: a channel post carries it
// (docs/spec/channels.md §3a). Call Forget once the descriptor is sent.
func (c *Client) UploadFile(ctx context.Context, path string, o *FileOptions) (*Upload, error) {
	f, err := openUpload(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.upload(ctx, f, o)
}

// Forget drops the key an upload kept for resuming; a new UploadFile of
// the same file then starts afresh under a new key.
func (c *Client) Forget(ctx context.Context, up *Upload) error {
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	t.del(uploadNS, up.upKey)
	return t.commit()
}

// openUpload opens the file at path and checks that it can be sent.
func openUpload(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client: opening the file: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("client: %s is not a regular file", path)
	}
	if st.Size() > attach.MaxSize {
		f.Close()
		return nil, fmt.Errorf("client: %s has %d bytes; files of at most %d bytes (1 GiB) can be sent: split it first", path, st.Size(), attach.MaxSize)
	}
	if base := filepath.Base(path); !attach.ValidName(base) {
		f.Close()
		return nil, fmt.Errorf("client: the file name %q cannot be sent as it is; rename the file", base)
	}
	return f, nil
}

// upload seals and uploads the opened file f and describes it.
func (c *Client) upload(ctx context.Context, f *os.File, o *FileOptions) (*Upload, error) {
	if o == nil {
		o = &FileOptions{}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("client: reading the file: %w", err)
	}
	abs, _ := filepath.Abs(f.Name())
	upKey := sha256.Sum256([]byte(abs))
	rec, hashes, known, err := c.prepareUpload(ctx, f, st.Size(), upKey[:])
	if err != nil {
		return nil, err
	}
	sealer, err := attach.NewSealer(rec.Key, f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	sealed := make([]bool, sealer.Count())
	for i := range known {
		sealed[i] = true
	}
	described := describeAhead(f, st.Size())
	ahead := c.startAhead(ctx, sealer, rec, upKey[:])
	err = c.uploadChunks(ctx, sealer, ahead, hashes, sealed, st.Size(), o)
	ahead.close()
	a := <-described
	if err != nil {
		return nil, err
	}
	a.Key, a.Chunks = rec.Key, hashes
	desc, err := a.Marshal()
	if err != nil {
		return nil, fmt.Errorf("client: describing the file: %w", err)
	}
	return &Upload{Attachment: a, Descriptor: desc, path: abs, upKey: upKey[:]}, nil
}

// chatForSend finds the chat called name, creating a direct chat on first
// use, and settles a pending commit as Send does.
func (c *Client) chatForSend(ctx context.Context, name string) (*chat, error) {
	c.mu.Lock()
	t, err := c.store.begin(ctx)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	ch, ct, err := c.findChatLocked(t, name)
	t.rollback()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if ch == nil {
		if ch, err = c.createChat(ctx, KindDirect, "", ct); err != nil {
			return nil, err
		}
	}
	c.settleBeforeSend(ctx, ch)
	return ch, nil
}

// uploadChunks sends the chunks the server lacks, TransferInFlight at a
// time (in parts, one at a time, on a path with a byte budget). After a disconnect it waits for the next session, asks again which
// chunks the server has, and sends only those: a chunk cut in flight is
// sent once more, never a chunk the server acknowledged. hashes[i] is
// known if sealed[i] (the chunk was recorded and may have been sent); the
// others, never sent, come from ahead, which learns their hashes.
func (c *Client) uploadChunks(ctx context.Context, s *attach.Sealer, ahead *aheadSealer, hashes []attach.Hash, sealed []bool, size int64, o *FileOptions) error {
	retries := o.Retries
	if retries == 0 {
		retries = 100
	}
	pr := &progress{total: len(hashes), size: size, on: o.OnProgress}
	x := newTransfer()
	// seal returns chunk i sealed for sending (in buf, or one the caller
	// owns if buf is nil): a chunk sent before is sealed again and checked
	// against its hash, the others come from ahead.
	seal := func(i int, buf []byte) (ct []byte, h attach.Hash, err error) {
		if sealed[i] {
			if ct, h, err = s.Seal(i, buf); err == nil && h != hashes[i] {
				err = fmt.Errorf("client: %w; send it again", attach.ErrChanged)
			}
		} else if ct, h, err = ahead.chunk(ctx, i); err == nil {
			hashes[i], sealed[i] = h, true
			if buf == nil {
				ct = bytes.Clone(ct)
			}
		}
		if err != nil {
			return nil, h, err
		}
		pr.sent(i)
		return ct, h, nil
	}
	var cur upPart // the chunk an upload in parts is on (attach_parts.go)
	sealBuf := make([]byte, 0, attach.MaxSealedChunk)
	for fails := 0; ; {
		sess, err := c.online(ctx)
		if err != nil {
			return err
		}
		missing, err := missingChunks(ctx, sess, hashes, sealed)
		n, held := 0, false
		if err == nil {
			pr.setDone(len(hashes) - len(missing))
			if len(missing) == 0 {
				return nil
			}
			if m := partMeter(sess); m != nil {
				n, err = uploadParts(ctx, sess, m, missing, &cur, seal, pr.finished)
			} else {
				n, held, err = x.round(ctx, sess, missing, func(i int) (wire.Message, error) {
					// The round encodes and sends the request before it
					// asks for the next, so one buffer serves every chunk.
					ct, h, err := seal(i, sealBuf)
					if err != nil {
						return nil, err
					}
					return &wire.PutChunk{Hash: wire.ChunkHash(h), Data: ct}, nil
				}, func(i int, _ wire.Message) error {
					pr.finished(i)
					return nil
				})
			}
		}
		if n > 0 {
			fails = 0
		} else {
			fails++
		}
		if err == nil {
			if held {
				x.next(sess)
			}
			if fails > retries {
				return fmt.Errorf("client: uploading the file: the server did not keep the chunks after %d rounds; retry later", fails)
			}
			continue // ask again: the server confirms every chunk
		}
		if err = c.transferError(ctx, "uploading the file", err, fails, retries); err != nil {
			return err
		}
	}
}

// transferError decides whether a failed round of a transfer is retried
// (nil, after a pause for RateLimited) or ends it (the error to return).
func (c *Client) transferError(ctx context.Context, doing string, err error, attempt, retries int) error {
	if ctx.Err() != nil {
		return ErrOffline
	}
	var we *wire.Error
	if errors.As(err, &we) {
		switch we.Code {
		case wire.CodeNotFound:
			if doing == "uploading the file" {
				return fmt.Errorf("client: %s: this server does not store files; ask its operator, or send the file another way", doing)
			}
			return fmt.Errorf("client: %s: the server does not have a chunk of this file (it expired, or it was damaged and refused); ask the sender to send the file again", doing)
		case wire.CodeRateLimited, wire.CodeUnavailable, wire.CodeInternal:
			wait := time.Duration(max(1, we.RetryAfter)) * time.Second
			select {
			case <-ctx.Done():
				return ErrOffline
			case <-time.After(wait):
			}
		default:
			return userError(doing, err)
		}
	} else if errors.Is(err, attach.ErrChanged) || errors.Is(err, attach.ErrTooLarge) || errors.Is(err, errSealing) {
		return err
	}
	if attempt >= retries {
		return fmt.Errorf("client: %s: gave up after %d reconnections: %w", doing, attempt, err)
	}
	c.logf("client: %s: %v; resuming", doing, err)
	return nil
}

// missingChunks returns, in index order, the chunks the server lacks: of
// those sealed (hash known) it asks the server, in batches; a chunk not
// sealed yet was never sent.
func missingChunks(ctx context.Context, s *session, hashes []attach.Hash, sealed []bool) ([]int, error) {
	var known, missing []int
	for i := range hashes {
		if sealed[i] {
			known = append(known, i)
		} else {
			missing = append(missing, i)
		}
	}
	for start := 0; start < len(known); start += wire.MaxHasChunks {
		batch := known[start:min(start+wire.MaxHasChunks, len(known))]
		req := &wire.HasChunks{Hashes: make([]wire.ChunkHash, len(batch))}
		for k, i := range batch {
			req.Hashes[k] = wire.ChunkHash(hashes[i])
		}
		resp, err := s.call(ctx, req)
		if err != nil {
			return nil, err
		}
		held, ok := resp.(*wire.ChunksHeld)
		if !ok || len(held.Held) != len(req.Hashes) {
			return nil, fmt.Errorf("client: unexpected answer %v to HasChunks", resp.Type())
		}
		for k, h := range held.Held {
			if !h {
				missing = append(missing, batch[k])
			}
		}
	}
	slices.Sort(missing)
	return missing, nil
}

// progress counts a transfer's chunks for FileOptions.OnProgress.
type progress struct {
	mu          sync.Mutex // guards the fields below and serializes on
	done, total int
	sends       int
	most        int
	per         map[int]int // sends per chunk
	size        int64
	on          func(Progress)
}

func (p *progress) report() {
	if p.on != nil {
		p.on(Progress{Done: p.done, Total: p.total, Sends: p.sends, MostSends: p.most, Bytes: min(p.size, int64(p.done)*attach.ChunkSize)})
	}
}

func (p *progress) setDone(n int) { p.mu.Lock(); p.done = n; p.report(); p.mu.Unlock() }
func (p *progress) sent(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.per == nil {
		p.per = map[int]int{}
	}
	p.sends++
	p.per[i]++
	p.most = max(p.most, p.per[i])
}

func (p *progress) finished(int) { p.mu.Lock(); p.done++; p.report(); p.mu.Unlock() }

// describeAhead names the file, guesses its media type and, for an image,
// its size and thumbnail (describeImage) on a goroutine of its own while
// the chunks are uploaded, so that the file's message does not wait for
// them after the last chunk is acknowledged (the first media type guess
// reads the system's MIME tables; a thumbnail decodes the image). It reads
// f only through ReadAt, which the sealer's reads do not disturb.
func describeAhead(f *os.File, size int64) <-chan *attach.Attachment {
	described := make(chan *attach.Attachment, 1)
	go func() {
		base := filepath.Base(f.Name())
		a := &attach.Attachment{Size: size, Name: base, MediaType: mediaTypeOf(base)}
		describeImage(f, a)
		described <- a
	}()
	return described
}

// mediaTypeOf guesses a media type from the file name's extension.
func mediaTypeOf(name string) string {
	t := mime.TypeByExtension(filepath.Ext(name))
	if mt, _, err := mime.ParseMediaType(t); err == nil && mt != "" {
		return mt
	}
	return "application/octet-stream"
}

// sendFileMessage queues the descriptor for ch inside MLS, stores our own
// copy of the message, and forgets the finished upload.
func (c *Client) sendFileMessage(ctx context.Context, ch *chat, name, caption string, desc []byte, a *attach.Attachment, abs string, upKey []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.groups[ch.hash]; cur != nil {
		ch = cur
	}
	if ch.g.HasPendingCommit() {
		return errors.New("client: a change to this chat still waits for the server's answer; the file is uploaded: connect and send it again (only the message is left to send)")
	}
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if err := c.encryptLocked(t, ch, appContent{Type: "file", Text: caption, File: desc, Sent: now.UnixMilli()}); err != nil {
		t.rollback()
		c.dropChatLocked(ch)
		return err
	}
	c.saveChatLocked(t, ch)
	ref := fileRef(desc)
	t.put(attachNS, []byte(ref), &attachRecord{Desc: desc})
	t.del(uploadNS, upKey)
	info := fileInfoOf(a, ref, FileSent)
	info.Path = abs
	t.addMessage(ch.hash[:], &Message{Chat: name, From: "me", Out: true, Text: caption, Time: now.UTC(), Kind: MessageFile, File: info})
	if err := t.commit(); err != nil {
		c.dropChatLocked(ch)
		return err
	}
	c.poke(c.outboxCh)
	return nil
}
