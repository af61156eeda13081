package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

type keyMap struct {
	Send, Newline, Next, Prev, PageUp, PageDown, Help, Close, Quit key.Binding
}

func defaultKeys() keyMap {
	return keyMap{
		Send:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("Enter", "send the message or run the /command")),
		Newline:  key.NewBinding(key.WithKeys("alt+enter", "ctrl+j"), key.WithHelp("Alt-Enter, Ctrl-J", "new line in the message (pasted lines stay in it too)")),
		Next:     key.NewBinding(key.WithKeys("tab", "ctrl+n", "alt+down"), key.WithHelp("Tab, Ctrl-N", "next chat")),
		Prev:     key.NewBinding(key.WithKeys("shift+tab", "ctrl+p", "alt+up"), key.WithHelp("Shift-Tab, Ctrl-P", "previous chat")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("PgUp", "scroll the conversation up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("PgDn", "scroll down")),
		Help:     key.NewBinding(key.WithKeys("?", "f1"), key.WithHelp("? (empty input), F1", "this help")),
		Close:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("Esc", "close the help or the QR code")),
		Quit:     key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("Ctrl-C, /quit", "quit")),
	}
}

// handleKey acts on the screen's own keys; done means the input line must
// not see the key.
func (m *Model) handleKey(k tea.KeyMsg) (cmd tea.Cmd, done bool) {
	if k.Paste {
		return nil, false // pasted text, newlines included, goes into the input
	}
	switch {
	case key.Matches(k, m.keys.Quit):
		return tea.Quit, true
	case key.Matches(k, m.keys.Close) && m.overlay != "":
		m.overlay = ""
		return nil, true
	case k.String() == "f1" || k.String() == "?" && strings.TrimSpace(m.input.Value()) == "":
		if m.overlay == "help" {
			m.overlay = ""
		} else {
			m.overlay = "help"
		}
		return nil, true
	case key.Matches(k, m.keys.Next):
		return m.selectChat(m.sel + 1), true
	case key.Matches(k, m.keys.Prev):
		return m.selectChat(m.sel - 1), true
	case key.Matches(k, m.keys.PageUp):
		m.viewport.HalfPageUp()
		m.follow = m.viewport.AtBottom()
		return nil, true
	case key.Matches(k, m.keys.PageDown):
		m.viewport.HalfPageDown()
		m.follow = m.viewport.AtBottom()
		return nil, true
	case key.Matches(k, m.keys.Send):
		text := m.input.Value()
		if strings.TrimSpace(text) == "" {
			return nil, true
		}
		m.input.Reset()
		m.layout()
		if strings.HasPrefix(text, "/") {
			return m.command(text), true
		}
		e, ok := m.current()
		switch {
		case !ok:
			m.setNotice("", errNoChat)
			m.input.SetValue(text)
			return nil, true
		case e.kind == kindChannel:
			m.setNotice("", errChannelReadOnly)
			m.input.SetValue(text)
			return nil, true
		}
		m.follow = true
		return m.send(e.name, text), true
	}
	return nil, false
}

func (m Model) helpView(w, h int) string {
	lines := []string{m.st.title.Render("samizdat chat: keys and commands") + m.st.dim.Render(" (Esc or ? closes)"), ""}
	for _, b := range []key.Binding{m.keys.Send, m.keys.Newline, m.keys.Next, m.keys.Prev, m.keys.PageUp, m.keys.PageDown, m.keys.Help, m.keys.Close, m.keys.Quit} {
		lines = append(lines, "  "+m.st.title.Render(padRight(b.Help().Key, 20))+" "+b.Help().Desc)
	}
	lines = append(lines, "")
	lines = append(lines, commandHelp...)
	lines = append(lines, "", "In a conversation: ✓ the server has your message (it delivers it end-to-end encrypted); … it waits in the outbox.")
	return ansi.Wrap(strings.Join(lines, "\n"), max(w, 10), "")
}

func padRight(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}
