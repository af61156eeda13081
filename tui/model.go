package tui

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/samizdat-project/samizdat/client"
)

// Chat kinds in the list.
const (
	kindDirect  = "direct"
	kindGroup   = "group"
	kindChannel = "channel"
)

// entry is one line of the chat list.
type entry struct {
	name    string
	kind    string
	members []string
}

// Model is the screen's state (bubbletea's Model).
type Model struct {
	b   Backend
	ev  *Events
	ctx context.Context

	width, height int
	chats         []entry
	sel           int // index in chats; -1 when there are none

	msgs    map[string][]client.Message // by chat name, oldest first
	loaded  map[string]bool             // the chat's history was read
	unread  map[string]int
	posts   map[string][]client.ChannelPostView
	queued  map[int64]bool // own messages not yet acknowledged by the server
	histAck bool           // the outbox was empty once: older own messages are with the server
	pending int

	status  client.PathStatus
	notice  string // the last command's answer (already safe to print)
	isError bool

	overlay string // "help", "qr" or ""
	qr      string
	invite  string
	opening string // open this chat once the list has it

	input    textarea.Model
	viewport viewport.Model
	keys     keyMap
	st       styles
	follow   bool // the conversation pane sticks to the bottom
}

// New returns the screen for b. ev may be nil (no live updates).
func New(ctx context.Context, b Backend, ev *Events) Model {
	in := textarea.New()
	in.Placeholder = "Write a message, or /help"
	in.ShowLineNumbers = false
	in.Prompt = "> "
	in.CharLimit = 0
	in.MaxHeight = 0
	in.SetHeight(1)
	in.KeyMap.InsertNewline.SetKeys("alt+enter", "ctrl+j")
	in.Cursor.SetMode(cursor.CursorStatic) // no redraw twice a second over a slow link
	in.Focus()
	m := Model{
		b: b, ev: ev, ctx: ctx, sel: -1,
		msgs: map[string][]client.Message{}, loaded: map[string]bool{}, unread: map[string]int{},
		posts: map[string][]client.ChannelPostView{}, queued: map[int64]bool{},
		input: in, viewport: viewport.New(40, 10), keys: defaultKeys(), st: newStyles(lipgloss.DefaultRenderer()), follow: true,
		width: 80, height: 24,
	}
	m.viewport.KeyMap = viewport.KeyMap{} // the pane scrolls with our keys only
	m.layout()
	return m
}

// Tea messages.
type (
	eventMsg   struct{}
	tickMsg    time.Time
	chatsMsg   struct{ chats []entry }
	newMsgs    struct{ ms []client.Message }
	historyMsg struct {
		name string
		ms   []client.Message
	}
	postsMsg struct {
		name  string
		posts []client.ChannelPostView
	}
	sentMsg struct {
		name string
		ms   []client.Message
	}
	flushedMsg struct{ ids []int64 }
	statusMsg  struct {
		path    client.PathStatus
		pending int
	}
	noticeMsg struct {
		text   string
		err    error
		reload bool   // the chat list changed
		open   string // select this chat
	}
	qrMsg struct{ link, qr string }
)

// Init loads the chat list and what arrived while the screen was closed.
func (m Model) Init() tea.Cmd {
	return tea.Batch(m.loadChats(), m.fetchNew(), m.statusCmd(), m.waitEvent(), tick())
}

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m Model) waitEvent() tea.Cmd {
	if m.ev == nil {
		return nil
	}
	ch, ctx := m.ev.ch, m.ctx
	return func() tea.Msg {
		select {
		case <-ch:
			return eventMsg{}
		case <-ctx.Done():
			return nil
		}
	}
}

func (m Model) loadChats() tea.Cmd {
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		cs, err := b.Chats(ctx)
		if err != nil {
			return noticeMsg{err: err}
		}
		seen := map[string]bool{}
		var out []entry
		for _, c := range cs {
			out = append(out, entry{name: c.Name, kind: c.Kind, members: c.Members})
			seen[c.Name] = true
		}
		// Contacts without a chat yet: the chat starts with the first message.
		if names, err := b.Contacts(ctx); err == nil {
			for _, n := range names {
				if !seen[n] {
					out = append(out, entry{name: n, kind: kindDirect})
					seen[n] = true
				}
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
		for _, n := range b.Channels() {
			out = append(out, entry{name: n, kind: kindChannel})
		}
		return chatsMsg{out}
	}
}

func (m Model) fetchNew() tea.Cmd {
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		ms, err := b.Messages(ctx, "", true)
		if err != nil {
			return noticeMsg{err: err}
		}
		return newMsgs{ms}
	}
}

func (m Model) statusCmd() tea.Cmd {
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		n, _ := b.Pending(ctx)
		return statusMsg{path: b.Path(), pending: n}
	}
}

func (m Model) loadHistory(e entry) tea.Cmd {
	b, ctx := m.b, m.ctx
	if e.kind == kindChannel {
		return func() tea.Msg {
			ps, err := b.ChannelPosts(ctx, e.name)
			if err != nil {
				return noticeMsg{err: err}
			}
			return postsMsg{e.name, ps}
		}
	}
	return func() tea.Msg {
		ms, err := b.Messages(ctx, e.name, false)
		if err != nil {
			return noticeMsg{err: err}
		}
		return historyMsg{e.name, ms}
	}
}

// flush waits for the server to hold every queued message.
func (m Model) flush() tea.Cmd {
	ids := make([]int64, 0, len(m.queued))
	for id := range m.queued {
		ids = append(ids, id)
	}
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := b.Flush(fctx); err != nil {
			return nil // still queued; the next status tick tries again
		}
		return flushedMsg{ids}
	}
}

func (m Model) send(name, text string) tea.Cmd {
	b, ctx := m.b, m.ctx
	return func() tea.Msg {
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := b.Send(sctx, name, text); err != nil {
			return noticeMsg{err: err}
		}
		ms, _ := b.Messages(ctx, "", true)
		return sentMsg{name, ms}
	}
}

// current returns the selected chat.
func (m Model) current() (entry, bool) {
	if m.sel < 0 || m.sel >= len(m.chats) {
		return entry{}, false
	}
	return m.chats[m.sel], true
}

// Update handles one event (bubbletea's Update).
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
	case tea.KeyMsg:
		if cmd, done := m.handleKey(msg); done {
			m.refreshView()
			return m, cmd
		} else if cmd != nil {
			cmds = append(cmds, cmd)
		}
	case eventMsg:
		cmds = append(cmds, m.fetchNew(), m.statusCmd(), m.waitEvent())
	case tickMsg:
		cmds = append(cmds, m.statusCmd(), tick())
		if e, ok := m.current(); ok && e.kind == kindChannel && m.overlay == "" && time.Time(msg).Second()%5 == 0 {
			cmds = append(cmds, m.loadHistory(e))
		}
	case statusMsg:
		m.status, m.pending = msg.path, msg.pending
		if msg.pending == 0 && len(m.queued) > 0 || msg.pending == 0 && !m.histAck {
			cmds = append(cmds, m.flush())
		}
	case chatsMsg:
		m.setChats(msg.chats)
		if m.opening != "" {
			m.openChat(m.opening)
			m.opening = ""
		}
		if e, ok := m.current(); ok && !m.loaded[e.name] {
			cmds = append(cmds, m.loadHistory(e))
		}
	case newMsgs:
		if m.addNew(msg.ms) {
			cmds = append(cmds, m.loadChats())
		}
	case sentMsg:
		if m.isError {
			m.notice, m.isError = "", false // that went through
		}
		for _, x := range msg.ms {
			if x.Out && x.Kind == client.MessageText {
				m.queued[x.ID] = true
			}
		}
		if m.addNew(msg.ms) {
			cmds = append(cmds, m.loadChats())
		}
		cmds = append(cmds, m.flush(), m.statusCmd())
	case flushedMsg:
		for _, id := range msg.ids {
			delete(m.queued, id)
		}
		m.histAck = true
	case historyMsg:
		m.msgs[msg.name] = mergeByID(msg.ms, m.msgs[msg.name])
		m.loaded[msg.name] = true
	case postsMsg:
		m.posts[msg.name] = msg.posts
		m.loaded[msg.name] = true
	case noticeMsg:
		m.setNotice(msg.text, msg.err)
		if msg.reload {
			cmds = append(cmds, m.loadChats())
		}
		if msg.open != "" {
			m.opening = msg.open
			if !msg.reload {
				cmds = append(cmds, m.openChat(msg.open))
			}
		}
	case qrMsg:
		m.overlay, m.qr, m.invite = "qr", msg.qr, msg.link
	}
	var cmd tea.Cmd
	before := m.inputHeight()
	m.input, cmd = m.input.Update(msg)
	cmds = append(cmds, cmd)
	if m.inputHeight() != before {
		// The input grew or shrank (a paste, a new line): the textarea
		// keeps its old scroll offset, which would hide the first lines;
		// setting the value again shows it from the top.
		m.input.SetHeight(m.inputHeight())
		m.input.SetValue(m.input.Value())
	}
	vh := m.viewport.Height
	m.layout()
	if _, typing := msg.(tea.KeyMsg); !typing || m.viewport.Height != vh {
		m.refreshView() // a keystroke in the input changes no message
	}
	return m, tea.Batch(cmds...)
}

func (m *Model) setNotice(text string, err error) {
	if err != nil {
		m.notice, m.isError = Sanitize(strings.TrimPrefix(err.Error(), "client: ")), true
		return
	}
	if text != "" {
		m.notice, m.isError = text, false
	}
}

// setChats replaces the chat list, keeping the selection on the same chat.
func (m *Model) setChats(cs []entry) {
	var keep entry
	if e, ok := m.current(); ok {
		keep = e
	}
	m.chats = cs
	m.sel = -1
	for i, e := range cs {
		if e.name == keep.name && e.kind == keep.kind {
			m.sel = i
		}
	}
	if m.sel < 0 && len(cs) > 0 {
		m.sel = 0
		m.unread[cs[0].name] = 0
	}
}

// addNew files new messages and counts the unread ones; it reports whether
// the chat list needs reading again (a new chat, or a member event).
func (m *Model) addNew(ms []client.Message) (newChat bool) {
	cur, _ := m.current()
	known := map[string]bool{}
	for _, e := range m.chats {
		known[e.name] = true
	}
	byChat := map[string][]client.Message{}
	for _, x := range ms {
		byChat[x.Chat] = append(byChat[x.Chat], x)
	}
	for name, l := range byChat {
		m.msgs[name] = mergeByID(m.msgs[name], l)
	}
	for _, x := range ms {
		if !known[x.Chat] || x.Kind == client.MessageEvent {
			newChat = true // a new chat, or members changed
		}
		if !x.Out && x.Kind != client.MessageEvent && (x.Chat != cur.name || cur.kind == kindChannel) {
			m.unread[x.Chat]++
		}
	}
	return newChat
}

// mergeByID merges two lists of messages oldest first, without duplicates.
func mergeByID(a, b []client.Message) []client.Message {
	seen := map[int64]bool{}
	out := make([]client.Message, 0, len(a)+len(b))
	for _, l := range [][]client.Message{a, b} {
		for _, x := range l {
			if !seen[x.ID] {
				seen[x.ID] = true
				out = append(out, x)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// openChat selects the chat called name, if listed.
func (m *Model) openChat(name string) tea.Cmd {
	for i, e := range m.chats {
		if e.name == name {
			return m.selectChat(i)
		}
	}
	return nil
}

func (m *Model) selectChat(i int) tea.Cmd {
	if len(m.chats) == 0 {
		return nil
	}
	i = (i%len(m.chats) + len(m.chats)) % len(m.chats)
	m.sel = i
	e := m.chats[i]
	m.unread[e.name] = 0
	m.follow = true
	if m.overlay != "help" {
		m.overlay = ""
	}
	if !m.loaded[e.name] {
		return m.loadHistory(e)
	}
	return nil
}
