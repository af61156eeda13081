//go:build js && wasm

package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall/js"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
)

// Channels in the page (docs/spec/web-app.md §5): a followed channel is a
// chat with id "channel:" + its name. A page reaches only its own origin:
// the channel's server through the app's "ws" stream (directly, or
// through the relay that served the page), and the link's mirrors through
// the "mirror" stream of the relay that served the page, which pins the
// mirror's key from the link as the CLI does. Posts are verified against
// the owner key in the link either way.

const channelPrefix = "channel:"

// followed is one followed channel.
type followed struct {
	link   client.ChannelLink
	fl     *client.Follower
	viewed map[uint64]bool // seqs whose view this page has recorded
}

// channelDialer dials the server's addresses through the page's stream
// and every other address (a mirror's) through the mirror stream.
func (a *app) channelDialer(server client.ServerLink) (client.Dialer, error) {
	toServer, err := client.WebSocketDialer(a.wsURL)
	if err != nil {
		return nil, err
	}
	toMirror, err := client.WebSocketDialer(strings.TrimSuffix(a.wsURL, "ws") + "mirror")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		if slices.Contains(server.Addrs, addr) {
			return toServer(ctx, addr)
		}
		return toMirror(ctx, addr)
	}, nil
}

// startFollowing adds link to the page's channels and keeps it current in
// the background: pushes from the server while it answers, the link's
// mirrors while it does not. first reports the first catch-up.
func (a *app) startFollowing(link client.ChannelLink) (first <-chan error, err error) {
	dial, err := a.channelDialer(link.Server)
	if err != nil {
		return nil, err
	}
	f := &followed{link: link, viewed: map[uint64]bool{}}
	f.fl = client.NewFollower(link, client.FollowerOptions{Dialer: dial,
		OnPost: func(p *channel.Post) { a.emit("chats", nil) }})
	a.mu.Lock()
	if a.channels == nil {
		a.channels = map[string]*followed{}
	}
	if old := a.channels[link.Name]; old != nil {
		old.fl.Close()
	}
	a.channels[link.Name] = f
	ctx := a.ctx
	a.mu.Unlock()
	done := make(chan error, 1)
	go a.keepFollowing(ctx, f, done)
	return done, nil
}

// channelRetry is how long a channel whose server is unreachable waits
// before it tries the server (then the mirrors) again.
const channelRetry = 10 * time.Second

func (a *app) keepFollowing(ctx context.Context, f *followed, first chan<- error) {
	defer f.fl.Close()
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := f.fl.Connect(cctx)
		if err != nil {
			err = f.fl.CatchUp(cctx) // the mirrors
		}
		cancel()
		if first != nil {
			first <- err
			first = nil
		}
		if err != nil {
			consoleLog("channel %s: %v", f.link.Name, err)
		}
		a.emit("chats", nil)
		if conn := f.fl.Conn(); conn != nil && conn.Err() == nil {
			select {
			case <-ctx.Done():
			case <-conn.Done():
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(channelRetry):
		}
	}
}

// followSaved follows the channels kept in the account's store.
func (a *app) followSaved(c *client.Client) {
	saved, err := c.FollowedChannels()
	if err != nil {
		consoleLog("reading the followed channels: %v", err)
		return
	}
	for _, s := range saved {
		if link, err := client.ParseChannelLink(s); err == nil {
			a.startFollowing(link)
		}
	}
}

// followChannel({link}) -> {chatId, title} once the first catch-up ended.
func (a *app) followChannel(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	link, err := client.ParseChannelLink(strings.TrimSpace(str(arg, "link")))
	if err != nil {
		return nil, err
	}
	if err := c.FollowChannels(map[string]string{link.Name: link.String()}); err != nil {
		return nil, err
	}
	first, err := a.startFollowing(link)
	if err != nil {
		return nil, err
	}
	select {
	case err = <-first:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("following %s (kept; the page tries again every %v): %w", link.Name, channelRetry, err)
	}
	return map[string]any{"chatId": channelPrefix + link.Name, "title": link.Name}, nil
}

// createChannel({name}) makes a channel this account owns on its server
// and follows it.
func (a *app) createChannel(ctx context.Context, arg js.Value) (any, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(str(arg, "name"))
	if err := client.ValidName(name); err != nil {
		return nil, err
	}
	link, key, err := c.OwnedChannel(name)
	if err != nil {
		return nil, err
	}
	err = a.withChannelConn(ctx, link, func(conn *client.ChannelConn) error {
		d, err := channel.NewDescriptor(key, name, uint64(time.Now().Unix()))
		if err != nil {
			return err
		}
		return conn.CreateChannel(ctx, d.Encode())
	})
	if err != nil {
		return nil, err
	}
	return a.followChannel(ctx, js.ValueOf(map[string]any{"link": link.String()}))
}

// withChannelConn runs f with a connection to the server of link.
func (a *app) withChannelConn(ctx context.Context, link client.ChannelLink, f func(*client.ChannelConn) error) error {
	dial, err := a.channelDialer(link.Server)
	if err != nil {
		return err
	}
	conn, err := client.DialChannels(ctx, dial, link.Server, client.NewReaderKey(), nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	return f(conn)
}

// channelOf returns the followed channel of a chat id ("channel:name").
func (a *app) channelOf(chatID string) (*followed, error) {
	name, ok := strings.CutPrefix(chatID, channelPrefix)
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.channels[name]; ok && f != nil {
		return f, nil
	}
	return nil, errors.New("this page follows no such channel; follow it by its link")
}

// post({chatId, text}) posts to a channel this account owns.
func (a *app) post(ctx context.Context, arg js.Value) (any, error) {
	c, text, err := a.clientAndText(arg)
	if err != nil {
		return nil, err
	}
	f, key, err := a.ownChannel(c, str(arg, "chatId"))
	if err != nil {
		return nil, err
	}
	var seq uint64
	err = a.withChannelConn(ctx, f.link, func(conn *client.ChannelConn) error {
		seq, err = client.PostText(ctx, conn, f.link, key, text)
		return err
	})
	if err != nil {
		return nil, err
	}
	f.fl.CatchUp(ctx) // shows it now, push or not
	a.emit("chats", nil)
	return map[string]any{"seq": float64(seq)}, nil
}

// ownChannel returns the followed channel chatID and its owner key, if
// this account owns it.
func (a *app) ownChannel(c *client.Client, chatID string) (*followed, ed25519.PrivateKey, error) {
	f, err := a.channelOf(chatID)
	if err != nil {
		return nil, nil, err
	}
	own, key, err := c.OwnedChannel(f.link.Name)
	if err != nil {
		return nil, nil, err
	}
	if own.Owner != f.link.Owner {
		return nil, nil, errors.New("only the channel's owner can post to it; this account does not own it")
	}
	return f, key, nil
}

// channelHistory is history for a channel: its verified posts, oldest
// first, with view counts while the server answers (viewing records a
// view, as 'samizdat channel read' does).
func (a *app) channelHistory(ctx context.Context, chatID string, limit int) (any, error) {
	f, err := a.channelOf(chatID)
	if err != nil {
		return nil, err
	}
	var posts []client.ChannelPostView
	for after := uint64(0); ; {
		page, next := f.fl.Read(after, 500)
		posts = append(posts, page...)
		if next == 0 {
			break
		}
		after = next
	}
	if limit > 0 && len(posts) > limit {
		posts = posts[len(posts)-limit:]
	}
	views := a.channelViews(ctx, f, posts)
	out := make([]any, 0, len(posts))
	for _, p := range posts {
		item := map[string]any{"id": fmt.Sprint(p.Seq), "chatId": chatID, "from": "", "fromName": f.link.Name,
			"mine": false, "text": p.Text, "at": p.Time.UnixMilli(), "state": "", "kind": "post"}
		if p.File != nil {
			item["file"] = channelFileItem(p.File)
		}
		if v, ok := views[p.Seq]; ok {
			item["views"] = float64(v)
		}
		out = append(out, item)
	}
	return out, nil
}

// channelViews records this page's views of posts not yet recorded and
// returns the view counts; nil when the server does not answer.
func (a *app) channelViews(ctx context.Context, f *followed, posts []client.ChannelPostView) map[uint64]uint64 {
	conn := f.fl.Conn()
	if conn == nil || conn.Err() != nil || len(posts) == 0 {
		return nil
	}
	var seqs, fresh []uint64
	a.mu.Lock()
	for _, p := range posts {
		seqs = append(seqs, p.Seq)
		if !f.viewed[p.Seq] {
			f.viewed[p.Seq] = true
			fresh = append(fresh, p.Seq)
		}
	}
	a.mu.Unlock()
	if len(fresh) > 0 {
		conn.RecordViews(ctx, f.link.ID(), fresh)
	}
	v, err := conn.ViewCounts(ctx, f.link.ID(), seqs)
	if err != nil {
		return nil
	}
	return v
}

// channelChats are the chat list's entries of the followed channels.
func (a *app) channelChats() []any {
	a.mu.Lock()
	fs := make([]*followed, 0, len(a.channels))
	for _, f := range a.channels {
		fs = append(fs, f)
	}
	a.mu.Unlock()
	slices.SortFunc(fs, func(x, y *followed) int { return strings.Compare(x.link.Name, y.link.Name) })
	out := make([]any, 0, len(fs))
	for _, f := range fs {
		item := map[string]any{"id": channelPrefix + f.link.Name, "kind": "channel", "title": f.link.Name, "unread": 0, "last": nil}
		if page, _ := f.fl.Read(lastPageAfter(f.fl), 1); len(page) > 0 {
			item["last"] = map[string]any{"text": lastText(page[0].Text, page[0].File != nil), "at": page[0].Time.UnixMilli()}
		}
		out = append(out, item)
	}
	return out
}

// lastPageAfter is the afterSeq that reads the newest post.
func lastPageAfter(fl *client.Follower) uint64 {
	if s := fl.LastSeq(); s > 0 {
		return s - 1
	}
	return 0
}

// channelLink({chatId}) -> {link, qr}: the followed channel's link (with
// its mirrors) to pass on, and as a QR code.
func (a *app) channelLink(_ context.Context, arg js.Value) (any, error) {
	f, err := a.channelOf(str(arg, "chatId"))
	if err != nil {
		return nil, err
	}
	link := f.link.String()
	code, err := qrDataURL(link)
	if err != nil {
		return nil, err
	}
	return map[string]any{"link": link, "qr": code}, nil
}
