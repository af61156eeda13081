package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/wire"
)

// ChannelLink is what a channel's owner shares (as text or a QR code):
//
//	samizdat://channel?owner=<base64url owner key>&name=<name>&server=<server link>[&relay=<server link>...]
//
// The owner key is the trust anchor: every post is verified against it, so
// the server and relays named in the link need not be trusted.
type ChannelLink struct {
	Owner  channel.Key
	Name   string
	Server ServerLink
	Relays []ServerLink // relays that cache the channel, tried when the server is unreachable
}

// ID is the channel's id.
func (l ChannelLink) ID() wire.ChannelID { return wire.ChannelID(channel.IDOf(l.Owner)) }

// String returns the link's text form.
func (l ChannelLink) String() string {
	q := url.Values{}
	q.Set("name", l.Name)
	v := "samizdat://channel?owner=" + base64.RawURLEncoding.EncodeToString(l.Owner[:]) + "&" + q.Encode() +
		"&server=" + url.QueryEscape(l.Server.String())
	for _, r := range l.Relays {
		v += "&relay=" + url.QueryEscape(r.String())
	}
	return reach.AddChecksum(v) // link.go
}

// ParseChannelLink parses a channel link.
func ParseChannelLink(s string) (ChannelLink, error) {
	var l ChannelLink
	q, err := linkQuery(s, "channel", "channel link", "copy the whole link") // link.go
	if err != nil {
		return l, err
	}
	key, err := base64.RawURLEncoding.DecodeString(q.Get("owner"))
	if err != nil || len(key) != len(l.Owner) {
		return l, errors.New("client: parsing channel link: the owner key is damaged; copy the whole link")
	}
	copy(l.Owner[:], key)
	l.Name = q.Get("name")
	if l.Server, err = ParseServerLink(q.Get("server")); err != nil {
		return ChannelLink{}, fmt.Errorf("client: parsing channel link: %w", err)
	}
	for _, r := range q["relay"] {
		rl, err := ParseServerLink(r)
		if err != nil {
			return ChannelLink{}, fmt.Errorf("client: parsing channel link: relay: %w", err)
		}
		l.Relays = append(l.Relays, rl)
	}
	return l, nil
}

// ChannelPostView is a post as a reader sees it: edits applied.
type ChannelPostView struct {
	Seq     uint64
	Time    time.Time
	Text    string
	Edited  bool
	ByOwner bool
	File    *ChannelFile // a media post's file (its caption is Text); nil for text
}

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	Dialer Dialer             // TCPDialer if nil
	Key    ed25519.PrivateKey // the connection's device key (NewReaderKey if nil)
	// OnPost is called with every post accepted (verified), in the order
	// accepted, outside the Follower's lock.
	OnPost func(*channel.Post)
	// OnReject is called with every post that failed verification.
	OnReject func(err error)
}

// Follower follows one channel: it verifies every post against the
// channel's owner key (forged and altered posts are rejected and reported),
// receives new posts by push, catches up from its last seq, and reads
// through a relay's cache when the server is unreachable.
type Follower struct {
	link ChannelLink
	id   wire.ChannelID
	opts FollowerOptions

	mu       sync.Mutex // guards the fields below
	state    *channel.State
	posts    map[uint64]*channel.Post // verified posts by seq
	last     uint64                   // every post up to last is held
	conn     *ChannelConn
	rejected []error
}

// NewFollower returns a follower of the channel in link, with no posts yet.
func NewFollower(link ChannelLink, o FollowerOptions) *Follower {
	if o.Dialer == nil {
		o.Dialer = TCPDialer
	}
	if o.Key == nil {
		o.Key = NewReaderKey()
	}
	return &Follower{link: link, id: link.ID(), opts: o, state: channel.NewState(link.Owner), posts: map[uint64]*channel.Post{}}
}

// Connect dials the channel's server, subscribes to pushes and catches up.
func (f *Follower) Connect(ctx context.Context) error {
	c, err := DialChannels(ctx, f.opts.Dialer, f.link.Server, f.opts.Key, f.onPush)
	if err != nil {
		return err
	}
	if err := c.Subscribe(ctx, f.id); err != nil {
		c.Close()
		return userError("subscribing to the channel", err)
	}
	f.mu.Lock()
	if f.conn != nil {
		f.conn.Close()
	}
	f.conn = c
	f.mu.Unlock()
	return f.catchUpFrom(ctx, c)
}

// Close closes the connection.
func (f *Follower) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		f.conn.Close()
		f.conn = nil
	}
}

// Conn returns the follower's connection to the server (nil if none).
func (f *Follower) Conn() *ChannelConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn
}

func (f *Follower) onPush(p *wire.ChannelPush) {
	if p.Channel != f.id {
		return
	}
	gap := false
	for _, b := range p.Posts {
		f.Accept(b)
		if _, seq, ok := channel.PeekSeq(b); ok && seq > f.LastSeq()+1 {
			gap = true
		}
	}
	if gap {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f.CatchUp(ctx)
		}()
	}
}

// Accept verifies an encoded post and keeps it. A post that fails
// verification is recorded (Rejected) and reported to OnReject.
func (f *Follower) Accept(enc []byte) error {
	f.mu.Lock()
	p, err := f.state.VerifyEncoded(enc)
	if err != nil {
		err = fmt.Errorf("client: rejected a post of channel %v: %w", channel.ID(f.id), err)
		f.rejected = append(f.rejected, err)
		f.mu.Unlock()
		if f.opts.OnReject != nil {
			f.opts.OnReject(err)
		}
		return err
	}
	if _, have := f.posts[p.Seq]; have {
		f.mu.Unlock()
		return nil
	}
	f.state.Apply(p)
	f.posts[p.Seq] = p
	for f.posts[f.last+1] != nil {
		f.last++
	}
	f.mu.Unlock()
	if f.opts.OnPost != nil {
		f.opts.OnPost(p)
	}
	return nil
}

// LastSeq is the highest seq up to which every post is held.
func (f *Follower) LastSeq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// Rejected returns the verification failures seen so far.
func (f *Follower) Rejected() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.rejected...)
}

// CatchUp fetches every post after LastSeq: from the server, or, when the
// server is unreachable, from the link's relays (their caches).
func (f *Follower) CatchUp(ctx context.Context) error {
	f.mu.Lock()
	c := f.conn
	f.mu.Unlock()
	var errs []error
	if c != nil && c.Err() == nil {
		if err := f.catchUpFrom(ctx, c); err == nil {
			return nil
		} else {
			errs = append(errs, err)
		}
	} else if c, err := DialChannels(ctx, f.opts.Dialer, f.link.Server, f.opts.Key, nil); err == nil {
		defer c.Close()
		if err := f.catchUpFrom(ctx, c); err == nil {
			return nil
		} else {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, err)
	}
	for _, r := range f.link.Relays {
		rc, err := DialChannels(ctx, f.opts.Dialer, r, f.opts.Key, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = f.catchUpFrom(ctx, rc)
		rc.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("client: catching up channel %v: %w", channel.ID(f.id), errors.Join(errs...))
}

// catchUpFrom pages through the posts after LastSeq from one source.
func (f *Follower) catchUpFrom(ctx context.Context, c *ChannelConn) error {
	for {
		after := f.LastSeq()
		posts, more, err := c.Fetch(ctx, f.id, after, wire.MaxChannelBatch)
		if err != nil {
			return err
		}
		for _, b := range posts {
			f.Accept(b) // a bad post is reported and skipped
		}
		if !more || f.LastSeq() == after {
			return nil
		}
	}
}

// Read returns up to limit text and media posts with seq > afterSeq, oldest first,
// with edits applied and deleted posts left out; next is the afterSeq of
// the following page (0 when there is none).
func (f *Follower) Read(afterSeq uint64, limit int) (page []ChannelPostView, next uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edits := map[uint64]*channel.Post{}
	deleted := map[uint64]bool{}
	var seqs []uint64
	for seq, p := range f.posts {
		switch p.Kind {
		case channel.KindEdit:
			if e := edits[p.Target]; e == nil || e.Seq < p.Seq {
				edits[p.Target] = p
			}
		case channel.KindDelete:
			deleted[p.Target] = true
		case channel.KindText, channel.KindMedia:
			if seq > afterSeq {
				seqs = append(seqs, seq)
			}
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		if deleted[seq] {
			continue
		}
		if len(page) == limit {
			return page, page[len(page)-1].Seq
		}
		p := f.posts[seq]
		v := ChannelPostView{Seq: seq, Time: time.UnixMilli(int64(min(p.Time, 1<<62))), Text: string(p.Body), ByOwner: p.Signer == f.state.Owner}
		if m, a, err := p.Media(); err == nil {
			v.Text, v.File = m.Caption, channelFileOf(m.Descriptor, a)
		}
		if e := edits[seq]; e != nil {
			v.Text, v.Edited = string(e.Body), true
		}
		page = append(page, v)
	}
	return page, 0
}
