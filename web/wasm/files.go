//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
)

// Attachments in the page (docs/browser-client.md "Attachments",
// docs/spec/web-app.md §6). The client's own SendFile, Download and
// DownloadMedia run unchanged over the page's in-memory files (memfs.js):
// a picked file is put there, sent, and removed; a download is written
// there as NAME.REF.part, verified chunk by chunk, renamed into place, and
// then taken out by the page as the bytes of a Blob.

// downloadDir is where downloads land in the page's memory.
const downloadDir = "/downloads"

// fileCallTimeout bounds one upload or download (a 1 GiB file at 1 MB/s
// takes about 17 minutes).
const fileCallTimeout = 30 * time.Minute

// uploadSeq numbers the directories of picked files, so that two files of
// one name do not meet.
var uploadSeq atomic.Int64

// inlineTypes are the image formats the page shows inline, by the name
// image.DecodeConfig gives the format it recognised: the type of the
// inline Blob comes from the bytes, never from the sender's media type.
var inlineTypes = map[string]string{"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif"}

// fileItem is what the page sees of a message's attachment.
func fileItem(name string, size int64, mediaType string, w, h uint32, thumb bool, state string) map[string]any {
	return map[string]any{"name": name, "size": float64(size), "mediaType": mediaType, "width": float64(w),
		"height": float64(h), "thumbnail": thumb, "state": state, "image": strings.HasPrefix(mediaType, "image/")}
}

func chatFileItem(f *client.FileInfo) map[string]any {
	return fileItem(f.Name, f.Size, f.MediaType, f.Width, f.Height, f.Thumbnail, f.State)
}

func channelFileItem(f *client.ChannelFile) map[string]any {
	return fileItem(f.Name, f.Size, f.MediaType, f.Width, f.Height, f.Thumbnail, client.FileAvailable)
}

// fileRef names the attachment of {chatId, id}: a chat message's id, or a
// channel post's seq.
type fileRef struct {
	ch  *followed // nil for a chat
	id  int64
	seq uint64
}

func (a *app) fileRefOf(arg js.Value) (fileRef, error) {
	chatID, id := str(arg, "chatId"), str(arg, "id")
	if strings.HasPrefix(chatID, channelPrefix) {
		f, err := a.channelOf(chatID)
		if err != nil {
			return fileRef{}, err
		}
		seq, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return fileRef{}, fmt.Errorf("%q is not a post of this channel", id)
		}
		return fileRef{ch: f, seq: seq}, nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return fileRef{}, fmt.Errorf("%q is not a message id", id)
	}
	return fileRef{id: n}, nil
}

// thumbnail({chatId, id}) -> a data: URL of the attachment's thumbnail
// (the JPEG the sender put in the descriptor), or "" if it has none or it
// is not a JPEG.
func (a *app) thumbnail(ctx context.Context, arg js.Value) (any, error) {
	ref, err := a.fileRefOf(arg)
	if err != nil {
		return nil, err
	}
	var thumb []byte
	if ref.ch != nil {
		_, att, err := ref.ch.fl.MediaPost(ref.seq)
		if err != nil {
			return nil, err
		}
		thumb = att.Thumbnail
	} else {
		c, err := a.client()
		if err != nil {
			return nil, err
		}
		if thumb, err = c.Thumbnail(ctx, ref.id); err != nil {
			return nil, err
		}
	}
	if _, format, err := image.DecodeConfig(bytes.NewReader(thumb)); err != nil || format != "jpeg" {
		return "", nil
	}
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(thumb), nil
}

// download({chatId, id, key}) -> {path, inlineType}: fetches the file,
// checking every chunk, into the page's memory; the page takes it from
// path (samizdatFiles.take). inlineType is the image type to show it as
// inline ("" for anything that is not a PNG, JPEG or GIF by its bytes).
// Progress goes out as "file" events {key, done, total}.
func (a *app) download(ctx context.Context, arg js.Value) (any, error) {
	ref, err := a.fileRefOf(arg)
	if err != nil {
		return nil, err
	}
	key := str(arg, "key")
	o := &client.FileOptions{OnProgress: func(p client.Progress) {
		a.emit("file", map[string]any{"key": key, "done": p.Done, "total": p.Total})
	}}
	var path string
	if ref.ch != nil {
		path, err = ref.ch.fl.DownloadMedia(ctx, ref.seq, downloadDir, o)
	} else {
		c, cerr := a.client()
		if cerr != nil {
			return nil, cerr
		}
		path, err = c.Download(ctx, ref.id, downloadDir, o)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"path": path, "inlineType": inlineType(path)}, nil
}

// inlineType sniffs the downloaded file at path: the Blob type to show it
// inline as, or "".
func inlineType(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return ""
	}
	return inlineTypes[format]
}

// sendFile({chatId, name, bytes, caption}) sends the picked file (bytes, a
// Uint8Array) to a chat, as 'samizdat send NAME --file PATH' does.
func (a *app) sendFile(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	chatID, name := str(arg, "chatId"), str(arg, "name")
	data := arg.Get("bytes")
	if !attach.ValidName(name) {
		return nil, fmt.Errorf("the file name %q cannot be sent as it is; rename the file", name)
	}
	if data.Type() != js.TypeObject || data.Get("length").Type() != js.TypeNumber {
		return nil, errors.New("no file was picked")
	}
	if n := int64(data.Get("length").Int()); n > attach.MaxSize {
		return nil, fmt.Errorf("the file has %d bytes; files of at most %d bytes can be sent", n, attach.MaxSize)
	}
	dir := fmt.Sprintf("/upload/%d", uploadSeq.Add(1))
	path := dir + "/" + name
	js.Global().Get("samizdatFiles").Call("put", path, data)
	defer os.Remove(dir)
	defer os.Remove(path)
	o := &client.FileOptions{OnProgress: func(p client.Progress) {
		a.emit("file", map[string]any{"key": "upload:" + chatID, "done": p.Done, "total": p.Total})
	}}
	if strings.HasPrefix(chatID, channelPrefix) {
		return a.postFile(ctx, c, chatID, path, str(arg, "caption"), o)
	}
	if err := c.SendFile(ctx, chatID, path, str(arg, "caption"), o); err != nil {
		return nil, err
	}
	return map[string]any{"state": a.sentState(ctx, c, chatID)}, nil
}

// postFile uploads the file at path and posts it to the channel chatID,
// which this account owns, as a media post (kind 5), as 'samizdat channel
// post NAME --file PATH' does.
func (a *app) postFile(ctx context.Context, c *client.Client, chatID, path, caption string, o *client.FileOptions) (any, error) {
	f, key, err := a.ownChannel(c, chatID)
	if err != nil {
		return nil, err
	}
	if len(caption) > channel.MaxCaption {
		return nil, fmt.Errorf("the caption has %d bytes; at most %d fit in a post", len(caption), channel.MaxCaption)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if n := attach.ChunkCount(st.Size()) * 32; n > client.MediaRoom(caption) {
		return nil, fmt.Errorf("the file is too big for a channel post (a post has room for %d chunks of 256 KiB); post a smaller file", client.MediaRoom(caption)/32)
	}
	up, err := c.UploadFile(ctx, path, o)
	if err != nil {
		return nil, err
	}
	body, err := client.MediaPostBody(up, caption)
	if err != nil {
		return nil, err
	}
	var seq uint64
	err = a.withChannelConn(ctx, f.link, func(conn *client.ChannelConn) error {
		seq, err = client.PostSigned(ctx, conn, f.link, key, channel.KindMedia, body)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := c.Forget(ctx, up); err != nil {
		return nil, err
	}
	f.fl.CatchUp(ctx) // shows it now, push or not
	a.emit("chats", nil)
	return map[string]any{"seq": float64(seq)}, nil
}
