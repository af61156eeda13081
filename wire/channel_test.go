package wire

import (
	"errors"
	"strings"
	"testing"
)

// channelSamples are the channel messages' samples (and golden files).
func channelSamples() []sample {
	return []sample{
		{"CreateChannel", 20, &CreateChannel{Descriptor: fill(0x10, 9)}},
		{"PostToChannel", 21, &PostToChannel{Post: fill(0x20, 11)}},
		{"SubscribeChannel", 22, &SubscribeChannel{Channel: id32(0xc0)}},
		{"UnsubscribeChannel", 23, &UnsubscribeChannel{Channel: id32(0xc0)}},
		{"FetchChannel", 24, &FetchChannel{Channel: id32(0xc0)}},
		{"ChannelInfo", 24, &ChannelInfo{Descriptor: fill(0x10, 9), LastSeq: 77}},
		{"FetchChannelPosts", 25, &FetchChannelPosts{Channel: id32(0xc0), AfterSeq: 5, Limit: 20}},
		{"ChannelPosts", 25, &ChannelPosts{Channel: id32(0xc0), Posts: [][]byte{fill(0x20, 3), fill(0x30, 4)}, More: true}},
		{"ChannelPosts-empty", 25, &ChannelPosts{Channel: id32(0xc0)}},
		{"RecordViews", 26, &RecordViews{Channel: id32(0xc0), Seqs: []uint64{1, 7}}},
		{"FetchViewCounts", 27, &FetchViewCounts{Channel: id32(0xc0), Seqs: []uint64{7}}},
		{"ViewCounts", 27, &ViewCounts{Channel: id32(0xc0), Counts: []ViewCount{{Seq: 7, Views: 100}}}},
		{"ChannelPush", 0, &ChannelPush{Channel: id32(0xc0), Posts: [][]byte{fill(0x20, 3)}}},
	}
}

func TestChannelResponseTypes(t *testing.T) {
	for _, s := range channelSamples() {
		typ := s.msg.Type()
		if typ.Class() == ClassRequest && ResponseType(typ) == 0 {
			t.Errorf("%v has no response type", typ)
		}
	}
}

func TestChannelLimitsFitInAFrame(t *testing.T) {
	posts := make([][]byte, MaxChannelBatch)
	for i := range posts {
		posts[i] = make([]byte, MaxChannelPost)
	}
	seqs := make([]uint64, MaxViewSeqs)
	counts := make([]ViewCount, MaxViewSeqs)
	for i := range seqs {
		seqs[i] = uint64(i + 1)
		counts[i] = ViewCount{Seq: uint64(i + 1), Views: 1 << 40}
	}
	fitInAFrame(t, []Message{
		&ChannelPosts{Posts: posts, More: true},
		&ChannelPush{Posts: posts},
		&PostToChannel{Post: posts[0]},
		&RecordViews{Seqs: seqs},
		&ViewCounts{Counts: counts},
		&CreateChannel{Descriptor: make([]byte, MaxChannelDescriptor)},
	})
}

func TestChannelDecodeRejects(t *testing.T) {
	ch := fill(0xc0, 32)
	many := make([]byte, 0)
	for i := 0; i <= MaxChannelBatch; i++ {
		many = append(many, withLen([]byte{byte(i)})...)
	}
	tests := []struct {
		name    string
		in      []byte
		want    error
		context string
	}{
		{"fetch limit 0", frame(TypeFetchChannelPosts, 1, ch, be64(0), be16(0)), ErrInvalid, "limit"},
		{"fetch limit too high", frame(TypeFetchChannelPosts, 1, ch, be64(0), be16(MaxChannelBatch+1)), ErrInvalid, "limit"},
		{"empty push", frame(TypeChannelPush, 0, ch, be32(0)), ErrInvalid, "at least one post"},
		{"push with request id", frame(TypeChannelPush, 3, ch, withLen(withLen([]byte{1}))), ErrInvalid, "on a push"},
		{"too many posts", frame(TypeChannelPosts, 1, ch, withLen(many), []byte{0}), ErrTooLarge, "posts"},
		{"empty post", frame(TypeChannelPush, 0, ch, withLen(be32(0))), ErrInvalid, "post"},
		{"post too large", frame(TypePostToChannel, 1, withLen(make([]byte, MaxChannelPost+1))), ErrTooLarge, "post"},
		{"huge post length", frame(TypePostToChannel, 1, be32(0xffffffff)), ErrTooLarge, "post"},
		{"duplicate view seqs", frame(TypeRecordViews, 1, ch, withLen(append(be64(3), be64(3)...))), ErrInvalid, "duplicate"},
		{"view seq 0", frame(TypeRecordViews, 1, ch, withLen(be64(0))), ErrInvalid, "seqs[0]"},
		{"no view seqs", frame(TypeFetchViewCounts, 1, ch, be32(0)), ErrInvalid, "at least one"},
		{"more bool 2", frame(TypeChannelPosts, 1, ch, be32(0), []byte{2}), ErrInvalid, "boolean"},
		{"empty descriptor", frame(TypeCreateChannel, 1, be32(0)), ErrInvalid, "descriptor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.context) {
				t.Fatalf("Decode: %v, want %v mentioning %q", err, tc.want, tc.context)
			}
		})
	}
}
