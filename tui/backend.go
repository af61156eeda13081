package tui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

// Backend is what the screen needs from the messenger. *Client (below)
// implements it with package client; the tests use a fake.
type Backend interface {
	Name() string
	InviteLink() string
	Path() client.PathStatus
	Chats(ctx context.Context) ([]client.ChatInfo, error)
	Contacts(ctx context.Context) ([]string, error)
	// Messages: as client.Client.Messages (onlyNew marks them shown).
	Messages(ctx context.Context, name string, onlyNew bool) ([]client.Message, error)
	Send(ctx context.Context, name, text string) error
	Flush(ctx context.Context) error
	Pending(ctx context.Context) (int, error)
	AddContact(ctx context.Context, link, name string) (string, error)
	CreateGroup(ctx context.Context, name string) error
	AddToGroup(ctx context.Context, group, contact string) error
	RemoveFromGroup(ctx context.Context, group, contact string) error
	// FollowChannel saves a channel link and returns the channel's name.
	FollowChannel(ctx context.Context, link string) (string, error)
	Channels() []string
	ChannelPosts(ctx context.Context, name string) ([]client.ChannelPostView, error)
	// LookupLink checks a code from `samizdat device link` and returns the
	// verification number to compare; ApproveLink sends the account to
	// that device once the user typed the same number, and adds it to the
	// chats.
	LookupLink(ctx context.Context, code string) (string, error)
	ApproveLink(ctx context.Context, code, confirm string) error
}

// Events carries what the client reports while it runs (new messages, path
// changes) to the screen. Its methods fit client.Options.OnMessage and
// OnPath; they never block the client: a burst is coalesced into one poke,
// since the screen reads the new messages from the store.
type Events struct {
	ch chan struct{}
}

// NewEvents returns an Events to wire into client.Options before Open.
func NewEvents() *Events { return &Events{ch: make(chan struct{}, 1)} }

// Message is client.Options.OnMessage.
func (e *Events) Message(client.Message) { e.poke() }

// Path is client.Options.OnPath.
func (e *Events) Path(client.PathStatus) { e.poke() }

func (e *Events) poke() {
	select {
	case e.ch <- struct{}{}:
	default:
	}
}

// Client is the Backend of a running *client.Client; it follows the
// saved channels itself.
type Client struct {
	C *client.Client

	mu        sync.Mutex
	followers map[string]*client.Follower
	links     map[string]*client.LinkApproval
}

// NewClient wraps c.
func NewClient(c *client.Client) *Client {
	return &Client{C: c, followers: map[string]*client.Follower{}, links: map[string]*client.LinkApproval{}}
}

// Close stops the channel followers (not the client).
func (b *Client) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.followers {
		f.Close()
	}
}

func (b *Client) Name() string            { return b.C.Name() }
func (b *Client) InviteLink() string      { return b.C.Invite().String() }
func (b *Client) Path() client.PathStatus { return b.C.Path() }
func (b *Client) Chats(ctx context.Context) ([]client.ChatInfo, error) {
	return b.C.Chats(ctx)
}
func (b *Client) Messages(ctx context.Context, name string, onlyNew bool) ([]client.Message, error) {
	return b.C.Messages(ctx, name, onlyNew)
}
func (b *Client) Send(ctx context.Context, name, text string) error { return b.C.Send(ctx, name, text) }
func (b *Client) Flush(ctx context.Context) error                   { return b.C.Flush(ctx) }
func (b *Client) Pending(ctx context.Context) (int, error)          { return b.C.Pending(ctx) }
func (b *Client) CreateGroup(ctx context.Context, name string) error {
	return b.C.CreateGroup(ctx, name)
}
func (b *Client) AddToGroup(ctx context.Context, group, contact string) error {
	return b.C.AddToGroup(ctx, group, contact)
}
func (b *Client) RemoveFromGroup(ctx context.Context, group, contact string) error {
	return b.C.RemoveFromGroup(ctx, group, contact)
}

func (b *Client) Contacts(ctx context.Context) ([]string, error) {
	cs, err := b.C.Contacts(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return names, nil
}

func (b *Client) AddContact(ctx context.Context, link, name string) (string, error) {
	in, err := client.ParseInvite(link)
	if err != nil {
		return "", err
	}
	ct, err := b.C.AddContact(ctx, in, name)
	if err != nil {
		return "", err
	}
	return ct.Name, nil
}

func (b *Client) FollowChannel(ctx context.Context, link string) (string, error) {
	l, err := client.ParseChannelLink(link)
	if err != nil {
		return "", err
	}
	if err := b.C.FollowChannels(map[string]string{l.Name: l.String()}); err != nil {
		return "", err
	}
	return l.Name, nil
}

func (b *Client) Channels() []string {
	m, err := b.C.FollowedChannels()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ChannelPosts returns the latest posts of a followed channel, connecting
// its follower on first use (and catching up through a mirror when the
// channel's server is unreachable).
func (b *Client) ChannelPosts(ctx context.Context, name string) ([]client.ChannelPostView, error) {
	b.mu.Lock()
	f := b.followers[name]
	b.mu.Unlock()
	if f == nil {
		m, err := b.C.FollowedChannels()
		if err != nil {
			return nil, err
		}
		s, ok := m[name]
		if !ok {
			return nil, fmt.Errorf("tui: not following a channel called %q; /channel follow LINK first", name)
		}
		l, err := client.ParseChannelLink(s)
		if err != nil {
			return nil, err
		}
		f = client.NewFollower(l, client.FollowerOptions{})
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := f.Connect(cctx); err != nil {
			if err := f.CatchUp(cctx); err != nil {
				f.Close()
				return nil, fmt.Errorf("tui: reading channel %q: %w", name, err)
			}
		}
		b.mu.Lock()
		if old := b.followers[name]; old != nil {
			f.Close()
			f = old
		} else {
			b.followers[name] = f
		}
		b.mu.Unlock()
	} else if f.Conn() == nil {
		f.CatchUp(ctx)
	}
	var all []client.ChannelPostView
	for after := uint64(0); ; {
		page, next := f.Read(after, 200)
		all = append(all, page...)
		if next == 0 {
			break
		}
		after = next
	}
	if len(all) > 200 {
		all = all[len(all)-200:]
	}
	return all, nil
}

func (b *Client) LookupLink(ctx context.Context, code string) (string, error) {
	if err := client.CheckLinkCode(code); err != nil {
		return "", err
	}
	a, err := b.C.LookupLink(ctx, code)
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.links[code] = a
	b.mu.Unlock()
	return a.Verification, nil
}

func (b *Client) ApproveLink(ctx context.Context, code, confirm string) error {
	b.mu.Lock()
	a := b.links[code]
	b.mu.Unlock()
	if a == nil {
		return errors.New("tui: look the code up first: /link CODE shows the verification number")
	}
	if err := b.C.ApproveLink(ctx, a, confirm); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return b.C.AddLinkedDevice(wctx, a.Device)
}
