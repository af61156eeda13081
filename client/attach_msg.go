package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/samizdat-project/samizdat/attach"
)

// File states (FileInfo.State).
const (
	FileAvailable  = "available"  // received; its chunks are on the server
	FileDownloaded = "downloaded" // fetched, verified and saved at Path
	FileSent       = "sent"       // ours: uploaded and sent
)

// FileInfo is what a user sees of an attachment (docs/spec/attachments.md).
// The descriptor itself (with the file key) is kept apart, under Ref, in
// the local store, so that a Message can be shown or logged safely.
type FileInfo struct {
	Ref       string `json:"ref"` // hex SHA-256 of the descriptor, first 16 bytes
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	Width     uint32 `json:"width,omitempty"`
	Height    uint32 `json:"height,omitempty"`
	Thumbnail bool   `json:"thumbnail,omitempty"` // the descriptor carries one
	State     string `json:"state"`
	Path      string `json:"path,omitempty"` // where it is on this device
}

// attachNS is the local store namespace of descriptors, by Ref.
const attachNS = "attach"

// attachRecord is a stored descriptor.
type attachRecord struct {
	Desc []byte `json:"desc"`
}

func fileRef(desc []byte) string {
	h := sha256.Sum256(desc)
	return hex.EncodeToString(h[:16])
}

func fileInfoOf(a *attach.Attachment, ref, state string) *FileInfo {
	return &FileInfo{Ref: ref, Name: a.Name, Size: a.Size, MediaType: a.MediaType, Width: a.Width, Height: a.Height,
		Thumbnail: len(a.Thumbnail) > 0, State: state}
}

// receiveFileLocked stores an attachment message: the descriptor under its
// ref, and a message that shows it.
func (c *Client) receiveFileLocked(t *tx, ch *chat, sender AccountKey, content *appContent) []Message {
	defer clear(content.File)
	m := Message{Chat: c.chatDisplayLocked(t, ch), From: c.nameOfLocked(t, sender), Time: time.Now().UTC(),
		Sent: time.UnixMilli(content.Sent).UTC()}
	a, err := attach.Unmarshal(content.File)
	if err != nil {
		m.Kind, m.Text = MessageError, "a file arrived that this version cannot read; ask the sender to update and send it again"
		t.addMessage(ch.hash[:], &m)
		return []Message{m}
	}
	ref := fileRef(content.File)
	t.put(attachNS, []byte(ref), &attachRecord{Desc: content.File})
	m.Kind, m.Text, m.File = MessageFile, content.Text, fileInfoOf(a, ref, FileAvailable)
	// The id the user downloads it by, for OnMessage (listen prints it).
	m.ID = t.addMessage(ch.hash[:], &m)
	return []Message{m}
}

// ErrNoSuchFile: the message id names no attachment on this device.
var ErrNoSuchFile = errors.New("client: no file with this message id; run `samizdat read` to see the ids of files")

// fileMessage loads message id and its descriptor.
func (c *Client) fileMessage(ctx context.Context, id int64) (*Message, []byte, *attach.Attachment, error) {
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	defer t.rollback()
	m, chat, ok := t.message(id)
	if !ok || m.File == nil {
		return nil, nil, nil, ErrNoSuchFile
	}
	var rec attachRecord
	if !t.get(attachNS, []byte(m.File.Ref), &rec) {
		return nil, nil, nil, ErrNoSuchFile
	}
	a, err := attach.Unmarshal(rec.Desc)
	clear(rec.Desc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("client: the stored file descriptor is damaged: %w", err)
	}
	return m, chat, a, nil
}

// message reads stored message id and its chat hash.
func (t *tx) message(id int64) (*Message, []byte, bool) {
	r, ok, err := t.t.message(id)
	if err != nil || !ok {
		return nil, nil, false
	}
	chat := r.chat
	b, err := t.s.open(r.v, msgAD(chat))
	if err != nil {
		return nil, nil, false
	}
	defer clear(b)
	var m Message
	if json.Unmarshal(b, &m) != nil {
		return nil, nil, false
	}
	m.ID = id
	return &m, chat, true
}

// setFileState records a file's new state and path in its message.
func (c *Client) setFileState(ctx context.Context, id int64, state, path string) error {
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	m, chat, ok := t.message(id)
	if !ok || m.File == nil {
		t.rollback()
		return ErrNoSuchFile
	}
	m.File.State, m.File.Path = state, path
	b, err := json.Marshal(m)
	if err != nil {
		t.rollback()
		return err
	}
	err = t.t.setMessage(id, t.s.seal(b, msgAD(chat)))
	clear(b)
	t.fail(err)
	return t.commit()
}
