package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/wire"
)

// Broadcast channels (docs/spec/channels.md). Channel requests need no
// registered device: channels are public, and a post is authorized by its
// signature, which the server verifies against the channel's owner key and
// admin set before storing it, so nobody can post into another's channel.
//
// Live fanout is in memory: each channel keeps a ring of its recent posts
// and its subscriber list; a post starts a round of pushes over the list
// (channel_push.go). The poster never touches the subscribers one by one.

const (
	channelRing         = 1024             // recent posts kept in memory per live channel
	maxViewedPerSession = 1 << 14          // per-session "already counted" entries
	maxPostClockSkew    = 10 * time.Minute // a post's signed time vs the server's clock
)

// channelHub holds the live channels and the subscriptions of sessions.
// Its zero value is ready (the maps are made on first use).
type channelHub struct {
	mu        sync.Mutex // guards the maps
	chans     map[wire.ChannelID]*liveChannel
	bySession map[*session]*sessionChannels
}

// sessionChannels is one session's channel state.
type sessionChannels struct {
	subs   map[wire.ChannelID]*channelSub
	viewed map[viewKey]struct{} // posts this session already counted
}

type viewKey struct {
	ch  wire.ChannelID
	seq uint64
}

// liveChannel is a channel the server has loaded: its verifier state and
// its fanout ring.
type liveChannel struct {
	id         wire.ChannelID
	descriptor []byte

	postMu sync.Mutex     // serializes posts: verify, store, publish
	state  *channel.State // guarded by postMu

	mu      sync.RWMutex // guards lastSeq and ring; every push reads them
	lastSeq uint64
	ring    []ringEntry // the most recent posts, by seq, at most channelRing

	fanout // the subscribers (channel_push.go)
}

type ringEntry struct {
	seq   uint64
	post  []byte
	frame []byte // the encoded ChannelPush of this post alone, shared by every subscriber
}

func (h *channelHub) session(ss *session) *sessionChannels {
	if h.bySession == nil {
		h.bySession = map[*session]*sessionChannels{}
		h.chans = map[wire.ChannelID]*liveChannel{}
	}
	sc := h.bySession[ss]
	if sc == nil {
		sc = &sessionChannels{subs: map[wire.ChannelID]*channelSub{}, viewed: map[viewKey]struct{}{}}
		h.bySession[ss] = sc
	}
	return sc
}

// dropSession ends the session's subscriptions and forgets its views
// (called when the session ends).
func (h *channelHub) dropSession(ss *session) {
	h.mu.Lock()
	sc := h.bySession[ss]
	delete(h.bySession, ss)
	h.mu.Unlock()
	if sc != nil {
		for _, sub := range sc.subs {
			sub.end()
		}
	}
}

// live returns the loaded channel, loading it from the store.
func (ss *session) live(id wire.ChannelID) (*liveChannel, *wire.Error) {
	h := &ss.srv.chans
	h.mu.Lock()
	h.session(ss)
	lc := h.chans[id]
	h.mu.Unlock()
	if lc != nil {
		return lc, nil
	}
	cs, e := ss.channelStore()
	if e != nil {
		return nil, e
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	desc, last, err := cs.Channel(ctx, store.ChannelID(id))
	if err != nil {
		return nil, ss.storeError("channel lookup", err)
	}
	d, err := channel.DecodeDescriptor(desc)
	if err != nil {
		return nil, wire.Errorf(wire.CodeInternal, "a stored channel descriptor does not verify")
	}
	revoked, err := cs.ChannelRevocations(ctx, store.ChannelID(id))
	if err != nil {
		return nil, ss.storeError("channel revocations", err)
	}
	state := channel.NewState(d.Owner)
	for k, seq := range revoked {
		p := &channel.Post{Channel: state.ID, Seq: seq, Kind: channel.KindRevoke, Signer: d.Owner, Body: k[:]}
		state.Apply(p)
	}
	lc = &liveChannel{id: id, descriptor: desc, state: state, lastSeq: last}
	h.mu.Lock()
	defer h.mu.Unlock()
	if have := h.chans[id]; have != nil {
		return have, nil
	}
	h.chans[id] = lc
	return lc, nil
}

// dispatchChannel answers channel requests; ok is false for other types.
func (ss *session) dispatchChannel(m wire.Message) (resp wire.Message, after func(), ok bool) {
	switch m := m.(type) {
	case *wire.CreateChannel:
		return ss.createChannel(m), nil, true
	case *wire.PostToChannel:
		return ss.postToChannel(m), nil, true
	case *wire.SubscribeChannel:
		r, after := ss.subscribeChannel(m)
		return r, after, true
	case *wire.UnsubscribeChannel:
		return ss.unsubscribeChannel(m), nil, true
	case *wire.FetchChannel:
		return ss.fetchChannel(m), nil, true
	case *wire.FetchChannelPosts:
		return ss.fetchChannelPosts(m), nil, true
	case *wire.RecordViews:
		return ss.recordViews(m), nil, true
	case *wire.FetchViewCounts:
		return ss.fetchViewCounts(m), nil, true
	}
	return nil, nil, false
}

func (ss *session) createChannel(m *wire.CreateChannel) wire.Message {
	d, err := channel.DecodeDescriptor(m.Descriptor)
	if err != nil {
		return wire.Errorf(wire.CodeUnauthorized, "the channel descriptor does not verify: %v", err)
	}
	cs, e := ss.channelStore()
	if e != nil {
		return e
	}
	if e := ss.checkFree(int64(len(m.Descriptor))); e != nil {
		return e
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	if err := cs.CreateChannel(ctx, store.ChannelID(d.ID()), m.Descriptor); err != nil {
		return ss.storeError("create channel", err)
	}
	return &wire.OK{}
}

func (ss *session) postToChannel(m *wire.PostToChannel) wire.Message {
	p, err := channel.DecodePost(m.Post)
	if err != nil {
		return wire.Errorf(wire.CodeBadRequest, "%v", err)
	}
	if e := ss.checkFree(int64(len(m.Post))); e != nil {
		return e
	}
	now := ss.srv.cfg.Now()
	if t := time.UnixMilli(int64(min(p.Time, 1<<62))); t.Before(now.Add(-maxPostClockSkew)) || t.After(now.Add(maxPostClockSkew)) {
		return wire.Errorf(wire.CodeBadRequest, "the post's time is more than %v from the server's clock; fix the clock", maxPostClockSkew)
	}
	lc, e := ss.live(wire.ChannelID(p.Channel))
	if e != nil {
		return e
	}
	cs, e := ss.channelStore()
	if e != nil {
		return e
	}
	lc.postMu.Lock()
	defer lc.postMu.Unlock()
	if _, err := lc.state.VerifyEncoded(m.Post); err != nil {
		return wire.Errorf(wire.CodeUnauthorized, "%v", err)
	}
	var revoked []byte
	if p.Kind == channel.KindRevoke {
		revoked = p.Body
	}
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	if err := cs.AppendChannelPost(ctx, store.ChannelID(p.Channel), p.Seq, m.Post, revoked); err != nil {
		var se *store.ChannelSeqError
		if errors.As(err, &se) {
			return &wire.Error{Code: wire.CodeStaleEpoch, CurrentEpoch: se.Last,
				Message: "not the channel's next post; sign it again with seq current_epoch+1"}
		}
		return ss.storeError("post to channel", err)
	}
	lc.state.Apply(p)
	lc.publish(p.Seq, m.Post)
	if n := ss.srv.cfg.Notifier; n != nil {
		n.ChannelPosted(store.ChannelID(p.Channel), p.Seq)
	}
	return &wire.OK{}
}

// publish adds a durable post to the ring and starts a fanout round.
func (lc *liveChannel) publish(seq uint64, post []byte) {
	frame, err := wire.Encode(wire.Frame{Msg: &wire.ChannelPush{Channel: lc.id, Posts: [][]byte{post}}})
	if err != nil {
		frame = nil // cannot happen for a post that decoded; subscribers encode their own
	}
	lc.mu.Lock()
	lc.lastSeq = seq
	if len(lc.ring) == channelRing {
		copy(lc.ring, lc.ring[1:])
		lc.ring = lc.ring[:channelRing-1]
	}
	lc.ring = append(lc.ring, ringEntry{seq: seq, post: post, frame: frame})
	lc.mu.Unlock()
	lc.kick()
}

func (ss *session) fetchChannel(m *wire.FetchChannel) wire.Message {
	lc, e := ss.live(m.Channel)
	if e != nil {
		return e
	}
	lc.mu.RLock()
	last := lc.lastSeq
	lc.mu.RUnlock()
	return &wire.ChannelInfo{Descriptor: lc.descriptor, LastSeq: last}
}

func (ss *session) fetchChannelPosts(m *wire.FetchChannelPosts) wire.Message {
	return withStore(ss, ss.channelStore, func(ctx context.Context, cs store.ChannelStore) wire.Message {
		posts, err := cs.ChannelPosts(ctx, store.ChannelID(m.Channel), m.AfterSeq, int(m.Limit)+1)
		if err != nil {
			return ss.storeError("channel posts", err)
		}
		resp := &wire.ChannelPosts{Channel: m.Channel}
		for i, p := range posts {
			if i == int(m.Limit) {
				resp.More = true
				break
			}
			resp.Posts = append(resp.Posts, p.Post)
		}
		return resp
	})
}

// recordViews counts each post once per session. Only counts are stored;
// which session (or device) viewed is kept in memory for the session's
// life only, to drop repeats.
func (ss *session) recordViews(m *wire.RecordViews) wire.Message {
	cs, e := ss.channelStore()
	if e != nil {
		return e
	}
	h := &ss.srv.chans
	counts := map[uint64]uint64{}
	h.mu.Lock()
	sc := h.session(ss)
	for _, seq := range m.Seqs {
		k := viewKey{m.Channel, seq}
		if _, seen := sc.viewed[k]; seen || len(sc.viewed) >= maxViewedPerSession {
			continue
		}
		sc.viewed[k] = struct{}{}
		counts[seq] = 1
	}
	h.mu.Unlock()
	ctx, cancel := ss.srv.storeCtx()
	defer cancel()
	if err := cs.AddChannelViews(ctx, store.ChannelID(m.Channel), counts); err != nil {
		return ss.storeError("record views", err)
	}
	return &wire.OK{}
}

func (ss *session) fetchViewCounts(m *wire.FetchViewCounts) wire.Message {
	return withStore(ss, ss.channelStore, func(ctx context.Context, cs store.ChannelStore) wire.Message {
		views, err := cs.ChannelViews(ctx, store.ChannelID(m.Channel), m.Seqs)
		if err != nil {
			return ss.storeError("view counts", err)
		}
		resp := &wire.ViewCounts{Channel: m.Channel}
		for _, seq := range m.Seqs {
			if v, ok := views[seq]; ok {
				resp.Counts = append(resp.Counts, wire.ViewCount{Seq: seq, Views: v})
			}
		}
		return resp
	})
}
