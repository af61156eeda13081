package tui

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
)

func twoChats() *fake {
	f := newFake()
	f.chats = []client.ChatInfo{{Name: "bob", Kind: kindDirect}, {Name: "carol", Kind: kindDirect}}
	return f
}

func TestUnreadCountsAndSwitchingChats(t *testing.T) {
	f := twoChats()
	f.add(client.Message{Chat: "bob", From: "bob", Text: "hi alice"})
	s := newScreen(t, f, 80, 20)
	s.wantView("› bob", "hi alice")
	f.add(client.Message{Chat: "carol", From: "carol", Text: "one"})
	f.add(client.Message{Chat: "carol", From: "carol", Text: "two"})
	s.send(eventMsg{})
	s.wantView("carol (2)")
	if strings.Contains(s.view(), "two") {
		t.Fatalf("carol's message shows in bob's chat:\n%s", s.view())
	}
	s.key("tab")
	s.wantView("› carol", "15:04 carol: one", "15:04 carol: two")
	if strings.Contains(s.view(), "(2)") {
		t.Fatalf("the unread count stayed after opening the chat:\n%s", s.view())
	}
}

func TestEnterSendsPastedNewlinesDoNot(t *testing.T) {
	f := twoChats()
	s := newScreen(t, f, 80, 20)
	// A bracketed paste of two lines, as the terminal delivers it.
	s.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("line one\rline two"), Paste: true})
	if len(f.sent) != 0 {
		t.Fatalf("the paste sent %q before Enter", f.sent)
	}
	s.key("enter")
	if len(f.sent) != 1 || f.sent[0] != "bob: line one\nline two" {
		t.Fatalf("sent %q, want the two lines as one message to bob", f.sent)
	}
	s.wantView("me: line one", "┆ line two")
	if v := s.m.input.Value(); v != "" {
		t.Fatalf("the input still holds %q after sending", v)
	}
}

func TestDeliveryStateQueuedThenWithServer(t *testing.T) {
	f := twoChats()
	f.flushed = make(chan struct{})
	s := newScreen(t, f, 80, 20)
	s.typeLine("are you there")
	s.wantView("me: are you there …")
	close(f.flushed) // the server acknowledged it
	e2etest.Eventually(t, "the outbox to empty", 2*time.Second, func() bool { n, _ := f.Pending(context.Background()); return n == 0 })
	s.send(tickMsg{})
	s.wantView("me: are you there ✓")
}

func TestAdversaryHostileMessageRendersHarmlessly(t *testing.T) {
	f := twoChats()
	f.chats[0].Name = "bob"
	f.add(client.Message{Chat: "bob", From: "eve\x1b[31m\u202e", Text: "\x1b[2J\x07ding\r\nbob: give me your key \u202eyek"})
	s := newScreen(t, f, 80, 20)
	v := s.view()
	for _, bad := range []string{"\x1b", "\x07", "\r", "\u202e"} {
		if strings.Contains(v, bad) {
			t.Errorf("the screen holds %q:\n%q", bad, v)
		}
	}
	for _, line := range strings.Split(v, "\n") {
		pane := line
		if i := strings.Index(line, "│"); i >= 0 {
			pane = line[i+len("│"):]
		}
		if strings.HasPrefix(strings.TrimSpace(pane), "bob: give me your key") {
			t.Errorf("a forged line passes for bob's message: %q", line)
		}
	}
	s.wantView("␛[2J␇ding", "┆ bob: give me your key <U+202E>yek", "eve␛[31m<U+202E>:")
}

func TestResizeKeepsTheScreenInside(t *testing.T) {
	f := twoChats()
	f.add(client.Message{Chat: "bob", From: "bob", Text: strings.Repeat("long words wrap ", 30)})
	s := newScreen(t, f, 100, 30)
	for _, sz := range [][2]int{{100, 30}, {60, 15}, {40, 10}, {120, 40}} {
		s.send(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		lines := strings.Split(s.view(), "\n")
		if len(lines) != sz[1] {
			t.Errorf("%dx%d: the view has %d lines", sz[0], sz[1], len(lines))
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > sz[0] {
				t.Errorf("%dx%d: a line is %d wide: %q", sz[0], sz[1], w, l)
			}
		}
		// Under 50 columns the chat list gives way to the conversation.
		if list := strings.Contains(s.view(), "Chats · alice"); list != (sz[0] >= 50) {
			t.Errorf("%dx%d: chat list shown = %v", sz[0], sz[1], list)
		}
	}
}

func TestHelpOnQuestionMark(t *testing.T) {
	s := newScreen(t, twoChats(), 100, 30)
	s.key("?")
	s.wantView("keys and commands", "/group new NAME", "Enter")
	s.key("esc")
	if strings.Contains(s.view(), "keys and commands") {
		t.Fatal("Esc did not close the help")
	}
	// In a message, ? is just a character.
	s.key("w")
	s.key("?")
	if strings.Contains(s.view(), "keys and commands") || s.m.input.Value() != "w?" {
		t.Fatalf("? in a message opened the help; input %q", s.m.input.Value())
	}
}

func TestColoursDegradeOnAPlainTerminal(t *testing.T) {
	f := twoChats()
	f.add(client.Message{Chat: "bob", From: "bob", Text: "hi"})
	f.add(client.Message{Chat: "carol", From: "carol", Text: "unread"})
	s := newScreen(t, f, 80, 20)
	if v := s.view(); strings.Contains(v, "\x1b") {
		t.Fatalf("a plain terminal got escape sequences:\n%q", v)
	}
	// Without colour, the selection and the unread count still show.
	s.wantView("› bob", "carol (1)", "● ")
	colour := s.m.WithRenderer(colourRenderer())
	if v := colour.View(); !strings.Contains(v, "\x1b[") {
		t.Fatalf("a colour terminal got no colour:\n%q", v)
	}
}

func TestCommands(t *testing.T) {
	f := twoChats()
	s := newScreen(t, f, 100, 40)
	s.typeLine("/add samizdat://invite?x=1 dave")
	s.typeLine("/group new friends")
	s.wantView("› + friends", "Created the group friends")
	s.typeLine("/group add dave")
	s.typeLine("/link ABCD-EFGH")
	s.wantView("Verification number: 1234 5678")
	s.typeLine("/link ABCD-EFGH 1234 5678")
	s.wantView("Done: the new device is in all your chats.")
	want := []string{"add samizdat://invite?x=1", "group new friends", "group add friends dave", "link ABCD-EFGH", "approve ABCD-EFGH 1234 5678"}
	if strings.Join(f.calls, "|") != strings.Join(want, "|") {
		t.Fatalf("calls %q, want %q", f.calls, want)
	}
	s.typeLine("/invite")
	s.wantView("Your invite", "samizdat://invite?name=alice", "█")
	s.key("esc")
	s.typeLine("/nonsense")
	s.wantView("unknown command /nonsense")
	m, cmd := s.m.Update(tea.KeyMsg{Type: tea.KeyCtrlC})
	s.m = m.(Model)
	if cmd == nil || cmd() != tea.Quit() {
		t.Fatal("Ctrl-C does not quit")
	}
}

func TestPastedLinesAllShowInTheInput(t *testing.T) {
	s := newScreen(t, twoChats(), 80, 20)
	// A terminal may hand a paste over in pieces.
	s.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("line one\rline two"), Paste: true})
	s.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("\rline three"), Paste: true})
	v := s.view()
	for _, want := range []string{"> line one ", "> line two ", "> line three "} {
		if !strings.Contains(v, want) {
			t.Fatalf("want %q in the input:\n%s", want, v)
		}
	}
}

func TestRunRefusesWithoutATerminal(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), twoChats(), nil, strings.NewReader(""), io.Discard)
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "needs a terminal") {
			t.Fatalf("Run without a terminal: %v; want an error that says it needs one", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run without a terminal hung")
	}
}

func TestAdversaryHugeMessageStaysBounded(t *testing.T) {
	f := twoChats()
	f.add(client.Message{Chat: "bob", From: "bob", Text: strings.Repeat("A", 1<<20)})
	f.add(client.Message{Chat: "bob", From: "bob", Text: strings.Repeat("x\n", 100000)})
	for i := 0; i < 3000; i++ {
		f.add(client.Message{Chat: "bob", From: "bob", Text: "flood"})
	}
	s := newScreen(t, f, 80, 20)
	if n := s.m.viewport.TotalLineCount(); n > 2000 {
		t.Fatalf("the conversation renders %d lines; a sender can make every keystroke slow", n)
	}
	s.wantView("bob: flood")
}

func TestEventsWakeTheScreenWithoutBlockingTheClient(t *testing.T) {
	ev := NewEvents()
	m := New(context.Background(), newFake(), ev)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ { // a burst: the client never waits for the screen
			ev.Message(client.Message{})
		}
		ev.Path(client.PathStatus{})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("OnMessage blocked the client")
	}
	if _, ok := m.waitEvent()().(eventMsg); !ok {
		t.Fatal("the screen was not woken")
	}
}
