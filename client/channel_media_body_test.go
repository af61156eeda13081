package client_test

import (
	"bytes"
	"testing"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
)

// TestMediaPostBody: a descriptor that fits keeps its thumbnail; one
// that would not fit in a post loses it and keeps its dimensions; the
// body decodes as the media post channel readers verify.
func TestMediaPostBody(t *testing.T) {
	for _, tc := range []struct {
		chunks    int
		wantThumb bool
	}{{4, true}, {400, false}} { // 400 chunks: fits without the 4000-byte thumbnail, not with it
		size := int64(tc.chunks) * attach.ChunkSize
		tc.chunks = attach.ChunkCount(size)
		a := &attach.Attachment{Key: attach.NewKey(), Size: size, Chunks: make([]attach.Hash, tc.chunks),
			Name: "p.jpg", MediaType: "image/jpeg", Width: 640, Height: 480, Thumbnail: bytes.Repeat([]byte{0xff}, 4000)}
		desc, err := a.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		body, err := client.MediaPostBody(&client.Upload{Attachment: a, Descriptor: desc}, "cap")
		if err != nil {
			t.Fatal(err)
		}
		if len(body) > channel.MaxBody {
			t.Fatalf("%d chunks: body of %d bytes > %d", tc.chunks, len(body), channel.MaxBody)
		}
		p := &channel.Post{Kind: channel.KindMedia, Body: body}
		m, got, err := p.Media()
		if err != nil {
			t.Fatalf("%d chunks: the body does not decode: %v", tc.chunks, err)
		}
		if m.Caption != "cap" || (len(got.Thumbnail) > 0) != tc.wantThumb || got.Width != 640 || len(got.Chunks) != tc.chunks {
			t.Fatalf("%d chunks: caption %q, thumbnail %d bytes (want kept: %v), width %d, %d chunks",
				tc.chunks, m.Caption, len(got.Thumbnail), tc.wantThumb, got.Width, len(got.Chunks))
		}
	}
}
