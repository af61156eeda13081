package tui

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/samizdat-project/samizdat/client"
)

// fake is a Backend in memory.
type fake struct {
	mu       sync.Mutex
	chats    []client.ChatInfo
	contacts []string
	msgs     []client.Message
	shown    map[int64]bool
	pending  int
	flushed  chan struct{} // if set, Flush waits for it
	sent     []string      // "chat: text"
	calls    []string
	path     client.PathStatus
}

func newFake() *fake {
	return &fake{shown: map[int64]bool{}, path: client.PathStatus{Connected: true, Path: "direct (server link)"}}
}

func (f *fake) add(m client.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.ID = int64(len(f.msgs) + 1)
	if m.Time.IsZero() {
		m.Time = time.Date(2026, 1, 2, 15, 4, 0, 0, time.Local)
	}
	if m.Kind == "" {
		m.Kind = client.MessageText
	}
	f.msgs = append(f.msgs, m)
}

func (f *fake) Name() string            { return "alice" }
func (f *fake) InviteLink() string      { return "samizdat://invite?name=alice&x=1" }
func (f *fake) Path() client.PathStatus { return f.path }
func (f *fake) Chats(context.Context) ([]client.ChatInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]client.ChatInfo(nil), f.chats...), nil
}
func (f *fake) Contacts(context.Context) ([]string, error) { return f.contacts, nil }
func (f *fake) Messages(_ context.Context, name string, onlyNew bool) ([]client.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []client.Message
	for _, m := range f.msgs {
		if (name == "" || m.Chat == name) && (!onlyNew || !f.shown[m.ID]) {
			out = append(out, m)
			if onlyNew {
				f.shown[m.ID] = true
			}
		}
	}
	return out, nil
}
func (f *fake) Send(_ context.Context, name, text string) error {
	f.mu.Lock()
	f.sent = append(f.sent, name+": "+text)
	f.pending++
	f.mu.Unlock()
	f.add(client.Message{Chat: name, From: "me", Out: true, Text: text})
	return nil
}
func (f *fake) Flush(ctx context.Context) error {
	if f.flushed != nil {
		select {
		case <-f.flushed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	f.pending = 0
	f.mu.Unlock()
	return nil
}
func (f *fake) Pending(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending, nil
}
func (f *fake) call(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}
func (f *fake) AddContact(_ context.Context, link, name string) (string, error) {
	f.call("add " + link)
	if name == "" {
		name = "bob"
	}
	f.mu.Lock()
	f.contacts = append(f.contacts, name)
	f.mu.Unlock()
	return name, nil
}
func (f *fake) CreateGroup(_ context.Context, name string) error {
	f.call("group new " + name)
	f.mu.Lock()
	f.chats = append(f.chats, client.ChatInfo{Name: name, Kind: kindGroup, Members: []string{"alice"}})
	f.mu.Unlock()
	return nil
}
func (f *fake) AddToGroup(_ context.Context, g, c string) error {
	f.call("group add " + g + " " + c)
	return nil
}
func (f *fake) RemoveFromGroup(_ context.Context, g, c string) error {
	f.call("group remove " + g + " " + c)
	return nil
}
func (f *fake) FollowChannel(_ context.Context, link string) (string, error) {
	return "", errors.New("no channels in the fake")
}
func (f *fake) Channels() []string { return nil }
func (f *fake) ChannelPosts(context.Context, string) ([]client.ChannelPostView, error) {
	return nil, nil
}
func (f *fake) LookupLink(_ context.Context, code string) (string, error) {
	f.call("link " + code)
	return "1234 5678", nil
}
func (f *fake) ApproveLink(_ context.Context, code, confirm string) error {
	f.call("approve " + code + " " + confirm)
	return nil
}

// screen drives a Model as bubbletea would: it feeds messages to Update
// and runs the commands that come back (skipping those that wait, like
// ticks and the event loop), feeding their results back.
type screen struct {
	t *testing.T
	m Model
	f *fake
}

func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}

func newScreen(t *testing.T, f *fake, w, h int) *screen {
	s := &screen{t: t, f: f, m: New(context.Background(), f, NewEvents()).WithRenderer(asciiRenderer())}
	s.run(s.m.Init())
	s.send(tea.WindowSizeMsg{Width: w, Height: h})
	return s
}

func (s *screen) send(msg tea.Msg) {
	s.t.Helper()
	m, cmd := s.m.Update(msg)
	s.m = m.(Model)
	s.m.View() // bubbletea draws after every update
	s.run(cmd)
}

// run executes cmd; each command gets 300 ms to answer.
func (s *screen) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	out := make(chan tea.Msg, 1)
	go func() { out <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-out:
	case <-time.After(300 * time.Millisecond):
		return
	}
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			s.run(c)
		}
	case tickMsg, eventMsg:
	case tea.QuitMsg:
		s.send(msg)
	default:
		s.send(msg)
	}
}

func (s *screen) key(k string) {
	s.t.Helper()
	switch k {
	case "enter":
		s.send(tea.KeyMsg{Type: tea.KeyEnter})
	case "tab":
		s.send(tea.KeyMsg{Type: tea.KeyTab})
	case "esc":
		s.send(tea.KeyMsg{Type: tea.KeyEsc})
	default:
		s.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
	}
}

func (s *screen) typeLine(text string) {
	s.t.Helper()
	for _, r := range text {
		s.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	s.key("enter")
}

func (s *screen) view() string { return s.m.View() }

func (s *screen) wantView(wants ...string) {
	s.t.Helper()
	v := s.view()
	for _, w := range wants {
		if !strings.Contains(v, w) {
			s.t.Fatalf("want %q on the screen:\n%s", w, v)
		}
	}
}

func colourRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	return r
}
