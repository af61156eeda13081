package wire

import "fmt"

// Broadcast channels (docs/spec/channels.md). Posts and descriptors travel
// as opaque encodings of package channel's format: the server and relays
// verify them with that package; this one only frames them.

// Channel limits, enforced by the decoder.
const (
	MaxChannelPost       = 20 << 10 // one encoded channel post
	MaxChannelDescriptor = 512      // one encoded channel descriptor
	MaxChannelBatch      = 48       // posts in one ChannelPosts or ChannelPush
	MaxViewSeqs          = 256      // seqs in one RecordViews or FetchViewCounts
)

// ChannelID is SHA-256 of a channel's owner key.
type ChannelID [32]byte

// Channel message types: requests 0x0030.., responses 0x0130.., push 0x0230.
const (
	TypeCreateChannel      Type = 0x0030
	TypePostToChannel      Type = 0x0031
	TypeSubscribeChannel   Type = 0x0032
	TypeUnsubscribeChannel Type = 0x0033
	TypeFetchChannel       Type = 0x0034
	TypeFetchChannelPosts  Type = 0x0035
	TypeRecordViews        Type = 0x0036
	TypeFetchViewCounts    Type = 0x0037

	TypeChannelInfo  Type = 0x0130
	TypeChannelPosts Type = 0x0131
	TypeViewCounts   Type = 0x0132

	TypeChannelPush Type = 0x0230
)

// CreateChannel registers a channel: its owner-signed descriptor. Answer:
// OK (also when the same descriptor is registered already); Conflict if
// the channel exists with another descriptor.
type CreateChannel struct {
	Descriptor []byte // 1..MaxChannelDescriptor
}

// PostToChannel appends a signed post. The server verifies the signature
// against the channel's owner key and admin set and accepts the post only
// as the channel's next seq; otherwise Error{StaleEpoch, current_epoch =
// the channel's last seq}. Answer: OK once the post is durable.
type PostToChannel struct {
	Post []byte // 1..MaxChannelPost
}

// SubscribeChannel asks for ChannelPush of every new post of the channel
// while the session lasts. Catching up is FetchChannelPosts. Answer: OK.
type SubscribeChannel struct {
	Channel ChannelID
}

// UnsubscribeChannel ends a subscription. Answer: OK.
type UnsubscribeChannel struct {
	Channel ChannelID
}

// FetchChannel asks for a channel's descriptor and last seq.
type FetchChannel struct {
	Channel ChannelID
}

// ChannelInfo answers FetchChannel.
type ChannelInfo struct {
	Descriptor []byte // 1..MaxChannelDescriptor
	LastSeq    uint64
}

// FetchChannelPosts asks for up to Limit posts with seq > AfterSeq, in seq
// order. Servers and relays (from their cache) answer it.
type FetchChannelPosts struct {
	Channel  ChannelID
	AfterSeq uint64
	Limit    uint16 // 1..MaxChannelBatch
}

// ChannelPosts answers FetchChannelPosts.
type ChannelPosts struct {
	Channel ChannelID
	Posts   [][]byte // 0..MaxChannelBatch encoded posts, each 1..MaxChannelPost bytes
	More    bool     // more posts follow the last one
}

// RecordViews counts one view of each post (the server keeps counts only,
// never who viewed; a session counts once per post). Answer: OK.
type RecordViews struct {
	Channel ChannelID
	Seqs    []uint64 // 1..MaxViewSeqs distinct seqs
}

// FetchViewCounts asks for the view counts of posts.
type FetchViewCounts struct {
	Channel ChannelID
	Seqs    []uint64 // 1..MaxViewSeqs distinct seqs
}

// ViewCount is the number of views of one post.
type ViewCount struct {
	Seq   uint64
	Views uint64
}

// ViewCounts answers FetchViewCounts, one entry per asked seq that exists.
type ViewCounts struct {
	Channel ChannelID
	Counts  []ViewCount // 0..MaxViewSeqs
}

// ChannelPush is a push (request id 0) of new posts of a subscribed
// channel, in seq order. A gap in seqs (the session fell behind) is
// repaired with FetchChannelPosts.
type ChannelPush struct {
	Channel ChannelID
	Posts   [][]byte // 1..MaxChannelBatch
}

func (*CreateChannel) Type() Type      { return TypeCreateChannel }
func (*PostToChannel) Type() Type      { return TypePostToChannel }
func (*SubscribeChannel) Type() Type   { return TypeSubscribeChannel }
func (*UnsubscribeChannel) Type() Type { return TypeUnsubscribeChannel }
func (*FetchChannel) Type() Type       { return TypeFetchChannel }
func (*FetchChannelPosts) Type() Type  { return TypeFetchChannelPosts }
func (*RecordViews) Type() Type        { return TypeRecordViews }
func (*FetchViewCounts) Type() Type    { return TypeFetchViewCounts }
func (*ChannelInfo) Type() Type        { return TypeChannelInfo }
func (*ChannelPosts) Type() Type       { return TypeChannelPosts }
func (*ViewCounts) Type() Type         { return TypeViewCounts }
func (*ChannelPush) Type() Type        { return TypeChannelPush }

func (m *CreateChannel) code(c coder) {
	c.bytes("descriptor", &m.Descriptor, 1, MaxChannelDescriptor)
}
func (*CreateChannel) validate() error { return nil }

func (m *PostToChannel) code(c coder)  { c.bytes("post", &m.Post, 1, MaxChannelPost) }
func (*PostToChannel) validate() error { return nil }

func (m *SubscribeChannel) code(c coder)    { c.fixed("channel", m.Channel[:]) }
func (*SubscribeChannel) validate() error   { return nil }
func (m *UnsubscribeChannel) code(c coder)  { c.fixed("channel", m.Channel[:]) }
func (*UnsubscribeChannel) validate() error { return nil }
func (m *FetchChannel) code(c coder)        { c.fixed("channel", m.Channel[:]) }
func (*FetchChannel) validate() error       { return nil }

func (m *ChannelInfo) code(c coder) {
	c.bytes("descriptor", &m.Descriptor, 1, MaxChannelDescriptor)
	c.u64("last_seq", &m.LastSeq)
}
func (*ChannelInfo) validate() error { return nil }

func (m *FetchChannelPosts) code(c coder) {
	c.fixed("channel", m.Channel[:])
	c.u64("after_seq", &m.AfterSeq)
	c.u16("limit", &m.Limit)
}
func (m *FetchChannelPosts) validate() error {
	if m.Limit == 0 || m.Limit > MaxChannelBatch {
		return fmt.Errorf("limit: %w: %d, must be 1..%d", ErrInvalid, m.Limit, MaxChannelBatch)
	}
	return nil
}

// codePosts codes a list of opaque posts.
func codePosts(c coder, posts *[][]byte) {
	codeList(c, "posts", posts, MaxChannelBatch, MaxChannelBatch*(4+MaxChannelPost),
		func(c coder, _ int, p *[]byte) { c.bytes("post", p, 1, MaxChannelPost) })
}

func (m *ChannelPosts) code(c coder) {
	c.fixed("channel", m.Channel[:])
	codePosts(c, &m.Posts)
	c.boolean("more", &m.More)
}
func (*ChannelPosts) validate() error { return nil }

func (m *ChannelPush) code(c coder) {
	c.fixed("channel", m.Channel[:])
	codePosts(c, &m.Posts)
}
func (m *ChannelPush) validate() error {
	if len(m.Posts) == 0 {
		return fmt.Errorf("posts: %w: a push carries at least one post", ErrInvalid)
	}
	return nil
}

// codeSeqs codes a list of distinct uint64 seqs.
func codeSeqs(c coder, seqs *[]uint64) {
	codeList(c, "seqs", seqs, MaxViewSeqs, MaxViewSeqs*8, func(c coder, _ int, s *uint64) { c.u64("seq", s) })
}

func checkSeqs(seqs []uint64) error {
	if len(seqs) == 0 {
		return fmt.Errorf("seqs: %w: at least one seq", ErrInvalid)
	}
	seen := make(map[uint64]struct{}, len(seqs))
	for i, s := range seqs {
		if _, dup := seen[s]; dup || s == 0 {
			return fmt.Errorf("seqs[%d]: %w: zero or duplicate seq %d", i, ErrInvalid, s)
		}
		seen[s] = struct{}{}
	}
	return nil
}

func (m *RecordViews) code(c coder)        { c.fixed("channel", m.Channel[:]); codeSeqs(c, &m.Seqs) }
func (m *RecordViews) validate() error     { return checkSeqs(m.Seqs) }
func (m *FetchViewCounts) code(c coder)    { c.fixed("channel", m.Channel[:]); codeSeqs(c, &m.Seqs) }
func (m *FetchViewCounts) validate() error { return checkSeqs(m.Seqs) }

func (m *ViewCounts) code(c coder) {
	c.fixed("channel", m.Channel[:])
	codeList(c, "counts", &m.Counts, MaxViewSeqs, MaxViewSeqs*16, func(c coder, _ int, v *ViewCount) {
		c.u64("seq", &v.Seq)
		c.u64("views", &v.Views)
	})
}
func (m *ViewCounts) validate() error {
	seen := make(map[uint64]struct{}, len(m.Counts))
	for i, c := range m.Counts {
		if _, dup := seen[c.Seq]; dup || c.Seq == 0 {
			return fmt.Errorf("counts[%d]: %w: zero or duplicate seq %d", i, ErrInvalid, c.Seq)
		}
		seen[c.Seq] = struct{}{}
	}
	return nil
}

// channelMessages lists the channel messages (docs/spec/channels.md), each
// request with the type that answers it.
var channelMessages = []kind{
	msg[CreateChannel](TypeOK),
	msg[PostToChannel](TypeOK),
	msg[SubscribeChannel](TypeOK),
	msg[UnsubscribeChannel](TypeOK),
	msg[FetchChannel](TypeChannelInfo),
	msg[FetchChannelPosts](TypeChannelPosts),
	msg[RecordViews](TypeOK),
	msg[FetchViewCounts](TypeViewCounts),
	msg[ChannelInfo](0),
	msg[ChannelPosts](0),
	msg[ViewCounts](0),
	msg[ChannelPush](0),
}
