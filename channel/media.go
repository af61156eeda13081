package channel

import (
	"fmt"
	"unicode/utf8"

	"github.com/samizdat-project/samizdat/attach"
)

// MaxCaption bounds the caption of a media post (bytes of UTF-8).
const MaxCaption = 4 << 10

// Media is the body of a KindMedia post (docs/spec/channels.md §3a): an
// optional caption and the attachment descriptor of the file
// (docs/spec/attachments.md §4). The descriptor carries the file key, so
// anyone who reads the channel can open the file; the chunk hashes are
// signed with the post, so a server, relay or mirror that serves another
// chunk is caught.
type Media struct {
	Caption    string
	Descriptor []byte // an encoded attach.Attachment
}

// Encode returns the body of a media post.
func (m *Media) Encode() []byte {
	w := newWriter(make([]byte, 0, 8+len(m.Caption)+len(m.Descriptor)))
	w.opaque([]byte(m.Caption))
	w.opaque(m.Descriptor)
	return w.Bytes()
}

// DecodeMedia parses and checks the body of a media post; it returns the
// decoded attachment too.
func DecodeMedia(body []byte) (*Media, *attach.Attachment, error) {
	r := newReader(body)
	caption := r.opaque("caption", MaxCaption)
	desc := r.opaque("attachment", MaxBody)
	if err := r.done(); err != nil {
		return nil, nil, fmt.Errorf("media: %w", err)
	}
	if !utf8.Valid(caption) {
		return nil, nil, fmt.Errorf("media: caption: %w: not UTF-8", ErrInvalid)
	}
	if len(desc) == 0 {
		return nil, nil, fmt.Errorf("media: attachment: %w: empty", ErrInvalid)
	}
	a, err := attach.Unmarshal(desc)
	if err != nil {
		return nil, nil, fmt.Errorf("media: %w: %w", ErrInvalid, err)
	}
	return &Media{Caption: string(caption), Descriptor: desc}, a, nil
}

// Media returns the media of a KindMedia post.
func (p *Post) Media() (*Media, *attach.Attachment, error) {
	if p.Kind != KindMedia {
		return nil, nil, fmt.Errorf("channel: post %d is a %v post, not media", p.Seq, p.Kind)
	}
	m, a, err := DecodeMedia(p.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("channel: post %d: %w", p.Seq, err)
	}
	return m, a, nil
}
