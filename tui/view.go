package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/samizdat-project/samizdat/client"
)

// styles: colours where the terminal has them; every state is also shown
// in text (›, (n), ✓, …, ●, ○), so a plain terminal or NO_COLOR loses
// nothing but the colour.
type styles struct {
	r                            *lipgloss.Renderer
	title, sel, unread, dim, err lipgloss.Style
	me, them, event, ok, warn    lipgloss.Style
	sep                          lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	c := func(light, dark string) lipgloss.AdaptiveColor {
		return lipgloss.AdaptiveColor{Light: light, Dark: dark}
	}
	s := r.NewStyle
	return styles{
		r:      r,
		title:  s().Bold(true),
		sel:    s().Reverse(true),
		unread: s().Bold(true).Foreground(c("#005fd7", "#5fafff")),
		dim:    s().Foreground(c("#6c6c6c", "#8a8a8a")),
		err:    s().Foreground(c("#af0000", "#ff5f5f")),
		me:     s().Foreground(c("#008700", "#87d787")),
		them:   s().Bold(true).Foreground(c("#005fd7", "#5fafff")),
		event:  s().Italic(true).Foreground(c("#6c6c6c", "#8a8a8a")),
		ok:     s().Foreground(c("#008700", "#5fd75f")),
		warn:   s().Foreground(c("#af5f00", "#ffaf00")),
		sep:    s().Foreground(c("#bcbcbc", "#444444")),
	}
}

// WithRenderer returns m drawing with r (tests pin the colour profile).
func (m Model) WithRenderer(r *lipgloss.Renderer) Model {
	m.st = newStyles(r)
	m.refreshView()
	return m
}

// sidebarWidth is the chat list's width; a narrow terminal hides it.
func (m Model) sidebarWidth() int {
	if m.width < 50 {
		return 0
	}
	return min(max(m.width/4, 14), 28)
}

func (m Model) inputHeight() int { return min(max(m.input.LineCount(), 1), 5) }

// layout sizes the parts to the terminal.
func (m *Model) layout() {
	m.input.SetWidth(max(m.width-1, 10))
	m.input.SetHeight(m.inputHeight())
	sw := m.sidebarWidth()
	w := m.width - sw
	if sw > 0 {
		w-- // the separator
	}
	m.viewport.Width = max(w, 10)
	m.viewport.Height = max(m.height-3-m.inputHeight(), 1)
}

// refreshView renders the selected conversation into the pane.
func (m *Model) refreshView() {
	var lines []string
	e, ok := m.current()
	w := m.viewport.Width
	switch {
	case !ok:
		lines = strings.Split(m.st.dim.Render(ansi.Wrap("No chats yet. /invite shows your link; /add LINK adds a contact; /help lists the commands.", max(w, 10), "")), "\n")
	case e.kind == kindChannel:
		for _, p := range m.posts[e.name] {
			head := fmt.Sprintf("#%d %s ", p.Seq, p.Time.Local().Format("01-02 15:04"))
			if p.Edited {
				head += "(edited) "
			}
			text := p.Text
			if f := p.File; f != nil { // a media post: the file, then its caption
				text = strings.TrimSpace(fmt.Sprintf("[file %q, %d bytes, %s; samizdat channel download %s %d] %s", f.Name, f.Size, f.MediaType, e.name, p.Seq, p.Text))
			}
			lines = append(lines, m.body(m.st.dim.Render(head), ansi.StringWidth(head), SanitizeText(text), w)...)
		}
		if len(lines) == 0 {
			lines = []string{m.st.dim.Render("No posts yet.")}
		}
	default:
		ms := m.msgs[e.name]
		if n := len(ms) - maxShown; n > 0 {
			lines = append(lines, m.st.dim.Render(fmt.Sprintf("(%d earlier messages: samizdat read %s shows them)", n, Sanitize(e.name))))
			ms = ms[n:]
		}
		for _, x := range ms {
			lines = append(lines, m.renderMessage(x, w)...)
		}
		if len(lines) == 0 {
			lines = []string{m.st.dim.Render("No messages yet: write one below.")}
		}
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "")
	}
	m.viewport.SetContent(strings.Join(lines, "\n"))
	if m.follow {
		m.viewport.GotoBottom()
	}
}

// renderMessage renders one message. Every message's first line starts
// with its time at column 0; its other lines are indented under a ┆, so
// a line feed in a text can never make a line that looks like another
// message.
func (m Model) renderMessage(x client.Message, w int) []string {
	ts := stamp(x.Time) + " "
	text := SanitizeText(x.Text)
	switch x.Kind {
	case client.MessageText:
		from, st := Sanitize(x.From)+": ", m.st.them
		if x.Out {
			from, st = "me: ", m.st.me
			if m.queued[x.ID] || !m.histAck {
				text += " " + m.st.warn.Render("…")
			} else {
				text += " " + m.st.ok.Render("✓")
			}
		}
		return m.body(m.st.dim.Render(ts)+st.Render(from), len(ts)+ansi.StringWidth(from), text, w)
	case client.MessageEvent:
		return m.body(m.st.dim.Render(ts), len(ts), m.st.event.Render("* "+text), w)
	default:
		return m.body(m.st.dim.Render(ts), len(ts), m.st.err.Render("! "+text), w)
	}
}

// stamp is a message's time: the hour today, the day too before.
func stamp(t time.Time) string {
	t = t.Local()
	if y, mo, d := time.Now().Date(); t.Year() == y && t.Month() == mo && t.Day() == d {
		return t.Format("15:04")
	}
	return t.Format("Jan 02 15:04")
}

// contIndent starts every line of a message after its first.
const contIndent = "      ┆ "

// What the pane renders at most, so that no sender can make every redraw
// slow: the last maxShown messages, maxBodyLines lines of each, and
// maxBodyBytes of its text.
const (
	maxShown     = 300
	maxBodyLines = 40
	maxBodyBytes = 8 << 10
)

// body wraps text after head (headW columns wide) to width w.
func (m Model) body(head string, headW int, text string, w int) []string {
	cut := 0
	if len(text) > maxBodyBytes {
		cut = len(text) - maxBodyBytes
		text = strings.ToValidUTF8(text[:maxBodyBytes], "")
	}
	out := m.wrapBody(head, headW, text, w)
	if len(out) > maxBodyLines {
		out = out[:maxBodyLines]
		cut = -1
	}
	switch {
	case cut > 0:
		out = append(out, m.st.dim.Render(contIndent+fmt.Sprintf("(%d more bytes not shown)", cut)))
	case cut < 0:
		out = append(out, m.st.dim.Render(contIndent+"(the rest is not shown)"))
	}
	return out
}

func (m Model) wrapBody(head string, headW int, text string, w int) []string {
	var out []string
	first := true
	for _, para := range strings.Split(text, "\n") {
		avail := w - ansi.StringWidth(contIndent)
		if first {
			avail = w - headW
		}
		wrapped := strings.Split(ansi.Wrap(para, max(avail, 8), ""), "\n")
		for _, l := range wrapped {
			if first {
				out = append(out, head+l)
				first = false
				continue
			}
			out = append(out, m.st.dim.Render(contIndent)+l)
		}
	}
	return out
}

// View draws the screen (bubbletea's View).
func (m Model) View() string {
	sw := m.sidebarWidth()
	h := m.viewport.Height + 1
	var pane string
	switch m.overlay {
	case "help":
		pane = m.helpView(m.viewport.Width, h)
	case "qr":
		pane = m.qrView(m.viewport.Width, h)
	default:
		pane = m.headerLine(m.viewport.Width) + "\n" + m.viewport.View()
	}
	pane = fit(pane, m.viewport.Width, h)
	if m.overlay == "qr" {
		pane = fit(m.qrView(m.width, h), m.width, h) // the code needs the whole width
	} else if sw > 0 {
		sep := strings.TrimSuffix(strings.Repeat(m.st.sep.Render("│")+"\n", h), "\n")
		pane = lipgloss.JoinHorizontal(lipgloss.Top, fit(m.chatList(sw, h), sw, h), sep, pane)
	}
	notice := ""
	if m.notice != "" {
		st := m.st.dim
		if m.isError {
			st = m.st.err
		}
		notice = st.Render(ansi.Truncate(m.notice, m.width, "…"))
	}
	return pane + "\n" + notice + "\n" + m.input.View() + "\n" + m.statusLine()
}

// fit pads or cuts s to exactly h lines of at most w columns.
func fit(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	for i, l := range lines {
		l = ansi.Truncate(l, w, "")
		lines[i] = l + strings.Repeat(" ", max(w-ansi.StringWidth(l), 0))
	}
	return strings.Join(lines, "\n")
}

func (m Model) headerLine(w int) string {
	e, ok := m.current()
	if !ok {
		return m.st.title.Render("samizdat")
	}
	var what string
	switch e.kind {
	case kindChannel:
		what = "channel (read only)"
	case kindGroup:
		names := make([]string, len(e.members))
		for i, n := range e.members {
			names[i] = Sanitize(n)
		}
		what = fmt.Sprintf("group: %s", strings.Join(names, ", "))
	default:
		what = "direct chat, end-to-end encrypted"
	}
	return ansi.Truncate(m.st.title.Render(Sanitize(e.name))+m.st.dim.Render(" — "+what), w, "…")
}

func (m Model) chatList(w, h int) string {
	lines := []string{m.st.title.Render(ansi.Truncate("Chats · "+Sanitize(m.b.Name()), w, "…"))}
	for i, e := range m.chats {
		mark := "  "
		if i == m.sel {
			mark = "› "
		}
		kind := ""
		switch e.kind {
		case kindGroup:
			kind = "+ "
		case kindChannel:
			kind = "# "
		}
		label := mark + kind + Sanitize(e.name)
		count := ""
		if n := m.unread[e.name]; n > 0 && i != m.sel {
			count = fmt.Sprintf(" (%d)", n)
		}
		label = ansi.Truncate(label, w-ansi.StringWidth(count), "…") + count
		switch {
		case i == m.sel:
			label = m.st.sel.Render(label)
		case count != "":
			label = m.st.unread.Render(label)
		}
		lines = append(lines, label)
	}
	return strings.Join(lines, "\n")
}

// statusLine: the connection first, then what waits to be sent; the long
// part (the path, why it failed) last, where a narrow terminal cuts it.
func (m Model) statusLine() string {
	waiting := ""
	if m.pending > 0 {
		waiting = fmt.Sprintf("%d waiting · ", m.pending)
	}
	var conn string
	if m.status.Connected {
		conn = m.st.ok.Render("●") + " " + waiting + Sanitize(m.status.String())
	} else {
		conn = m.st.warn.Render("○") + " offline, " + waiting + "messages wait in the outbox · " + Sanitize(m.status.String())
	}
	return ansi.Truncate(m.st.dim.Render("? help · ")+conn, m.width, "…")
}

func (m Model) qrView(w, h int) string {
	lines := []string{m.st.title.Render("Your invite") + m.st.dim.Render(" (Esc closes): scan the code, or give the link below; they add you with /add LINK or samizdat add LINK")}
	code := strings.Split(strings.TrimSuffix(m.qr, "\n"), "\n")
	if len(code) > h-2 || ansi.StringWidth(code[0]) > w {
		lines = append(lines, m.st.warn.Render("(enlarge the terminal to see the QR code)"))
	} else {
		lines = append(lines, code...)
	}
	lines = append(lines, strings.Split(ansi.Hardwrap(m.invite, max(w, 10), false), "\n")...)
	return strings.Join(lines, "\n")
}
