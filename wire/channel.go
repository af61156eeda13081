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

func (m *CreateChannel) encode(w *writer) {
	w.bytes("descriptor", m.Descriptor, 1, MaxChannelDescriptor)
}
func (m *CreateChannel) decode(r *reader) {
	m.Descriptor = r.bytes("descriptor", 1, MaxChannelDescriptor)
}
func (*CreateChannel) validate() error { return nil }

func (m *PostToChannel) encode(w *writer) { w.bytes("post", m.Post, 1, MaxChannelPost) }
func (m *PostToChannel) decode(r *reader) { m.Post = r.bytes("post", 1, MaxChannelPost) }
func (*PostToChannel) validate() error    { return nil }

func (m *SubscribeChannel) encode(w *writer)   { w.fixed(m.Channel[:]) }
func (m *SubscribeChannel) decode(r *reader)   { r.fixed("channel", m.Channel[:]) }
func (*SubscribeChannel) validate() error      { return nil }
func (m *UnsubscribeChannel) encode(w *writer) { w.fixed(m.Channel[:]) }
func (m *UnsubscribeChannel) decode(r *reader) { r.fixed("channel", m.Channel[:]) }
func (*UnsubscribeChannel) validate() error    { return nil }
func (m *FetchChannel) encode(w *writer)       { w.fixed(m.Channel[:]) }
func (m *FetchChannel) decode(r *reader)       { r.fixed("channel", m.Channel[:]) }
func (*FetchChannel) validate() error          { return nil }

func (m *ChannelInfo) encode(w *writer) {
	w.bytes("descriptor", m.Descriptor, 1, MaxChannelDescriptor)
	w.u64(m.LastSeq)
}
func (m *ChannelInfo) decode(r *reader) {
	m.Descriptor = r.bytes("descriptor", 1, MaxChannelDescriptor)
	m.LastSeq = r.u64("last_seq")
}
func (*ChannelInfo) validate() error { return nil }

func (m *FetchChannelPosts) encode(w *writer) {
	w.fixed(m.Channel[:])
	w.u64(m.AfterSeq)
	w.u16(m.Limit)
}
func (m *FetchChannelPosts) decode(r *reader) {
	r.fixed("channel", m.Channel[:])
	m.AfterSeq = r.u64("after_seq")
	m.Limit = r.u16("limit")
}
func (m *FetchChannelPosts) validate() error {
	if m.Limit == 0 || m.Limit > MaxChannelBatch {
		return fmt.Errorf("limit: %w: %d, must be 1..%d", ErrInvalid, m.Limit, MaxChannelBatch)
	}
	return nil
}

// posts encodes and decodes a list of opaque posts.
func writePosts(w *writer, posts [][]byte) {
	w.list("posts", len(posts), MaxChannelBatch, func(w *writer, i int) { w.bytes("post", posts[i], 1, MaxChannelPost) })
}

func readPosts(r *reader) (posts [][]byte) {
	r.list("posts", MaxChannelBatch, MaxChannelBatch*(4+MaxChannelPost), func(r *reader) {
		posts = append(posts, r.bytes("post", 1, MaxChannelPost))
	})
	return posts
}

func (m *ChannelPosts) encode(w *writer) {
	w.fixed(m.Channel[:])
	writePosts(w, m.Posts)
	w.boolean(m.More)
}
func (m *ChannelPosts) decode(r *reader) {
	r.fixed("channel", m.Channel[:])
	m.Posts = readPosts(r)
	m.More = r.boolean("more")
}
func (*ChannelPosts) validate() error { return nil }

func (m *ChannelPush) encode(w *writer) {
	w.fixed(m.Channel[:])
	writePosts(w, m.Posts)
}
func (m *ChannelPush) decode(r *reader) {
	r.fixed("channel", m.Channel[:])
	m.Posts = readPosts(r)
}
func (m *ChannelPush) validate() error {
	if len(m.Posts) == 0 {
		return fmt.Errorf("posts: %w: a push carries at least one post", ErrInvalid)
	}
	return nil
}

// seqs encodes and decodes a list of distinct uint64 seqs.
func writeSeqs(w *writer, seqs []uint64) {
	w.list("seqs", len(seqs), MaxViewSeqs, func(w *writer, i int) { w.u64(seqs[i]) })
}

func readSeqs(r *reader) (seqs []uint64) {
	r.list("seqs", MaxViewSeqs, MaxViewSeqs*8, func(r *reader) { seqs = append(seqs, r.u64("seq")) })
	return seqs
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

func (m *RecordViews) encode(w *writer)     { w.fixed(m.Channel[:]); writeSeqs(w, m.Seqs) }
func (m *RecordViews) decode(r *reader)     { r.fixed("channel", m.Channel[:]); m.Seqs = readSeqs(r) }
func (m *RecordViews) validate() error      { return checkSeqs(m.Seqs) }
func (m *FetchViewCounts) encode(w *writer) { w.fixed(m.Channel[:]); writeSeqs(w, m.Seqs) }
func (m *FetchViewCounts) decode(r *reader) { r.fixed("channel", m.Channel[:]); m.Seqs = readSeqs(r) }
func (m *FetchViewCounts) validate() error  { return checkSeqs(m.Seqs) }

func (m *ViewCounts) encode(w *writer) {
	w.fixed(m.Channel[:])
	w.list("counts", len(m.Counts), MaxViewSeqs, func(w *writer, i int) {
		w.u64(m.Counts[i].Seq)
		w.u64(m.Counts[i].Views)
	})
}
func (m *ViewCounts) decode(r *reader) {
	r.fixed("channel", m.Channel[:])
	r.list("counts", MaxViewSeqs, MaxViewSeqs*16, func(r *reader) {
		m.Counts = append(m.Counts, ViewCount{Seq: r.u64("seq"), Views: r.u64("views")})
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
