package tui_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/buildtest"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/internal/testenv"
)

// This file runs `samizdat chat` for real: the built binary, a real
// server, and a real terminal (tmux), whose screen the test reads with
// capture-pane.

const passphrase = "tui e2e correct horse"

var cliEnv = e2etest.CLIEnv(passphrase)

// needTmux returns tmux's path; CI must have it (.ci/run installs it).
func needTmux(t *testing.T) string {
	t.Helper()
	return testenv.LookPath(t, "tmux", "apt-get install tmux")
}

// world is a server, the samizdat binary, and a tmux server of its own.
type world struct {
	t         *testing.T
	bin, tmux string
	dir, sock string
	link      string
	addr      string        // the server's listening address
	srv       *e2etest.Proc // the running server
}

// startServer runs the server on listen and waits for its link.
func (w *world) startServer(listen string) {
	w.t.Helper()
	w.srv = e2etest.Start(w.t, w.bin, nil, "server", "--data", filepath.Join(w.dir, "server"), "--listen", listen, "--admin=")
	got := w.srv.WaitLines(w.t, 20*time.Second, "samizdat server listening on ", "server link: ")
	w.addr = got[0]
	if w.link != "" && got[1] != w.link {
		w.t.Fatalf("the restarted server has another link: %s, was %s", got[1], w.link)
	}
	w.link = got[1]
}

// stopServer kills the server (kill -9: nothing acknowledged is lost).
func (w *world) stopServer() {
	w.srv.Kill()
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, tmux: needTmux(t), bin: buildtest.For(t), dir: t.TempDir()}
	w.sock = filepath.Join(w.dir, "tmux.sock")
	w.startServer("127.0.0.1:0")
	t.Cleanup(func() { e2etest.Run(10*time.Second, w.tmux, nil, "-S", w.sock, "kill-server") })
	return w
}

func (w *world) waitFor(what string, d time.Duration, cond func() bool, show func() string) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("waited %v for %s; now:\n%s", d, what, show())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cli runs one samizdat command in home and returns its stdout.
func (w *world) cli(home string, args ...string) string {
	w.t.Helper()
	return e2etest.MustRun(w.t, 90*time.Second, w.bin, cliEnv, append([]string{"--home", filepath.Join(w.dir, home)}, args...)...)
}

func (w *world) user(name string) (invite string) {
	w.t.Helper()
	w.cli(name, "init", "--server", w.link, "--name", name)
	link, _, _ := strings.Cut(w.cli(name, "invite", "--no-qr"), "\n")
	return strings.TrimSpace(link)
}

func (w *world) tm(args ...string) string {
	w.t.Helper()
	return e2etest.MustRun(w.t, 20*time.Second, w.tmux, nil, append([]string{"-S", w.sock}, args...)...)
}

// screen is what the terminal shows now.
func (w *world) screen() string { return w.tm("capture-pane", "-p", "-t", "chat") }

func (w *world) waitScreen(d time.Duration, wants ...string) string {
	w.t.Helper()
	var s string
	w.waitFor(strings.Join(wants, " and ")+" on the screen", d, func() bool {
		s = w.screen()
		for _, want := range wants {
			if !strings.Contains(s, want) {
				return false
			}
		}
		return true
	}, w.screen)
	return s
}

// typeLine types text into the terminal and presses Enter.
func (w *world) typeLine(text string) {
	w.t.Helper()
	w.tm("send-keys", "-t", "chat", "-l", text)
	w.tm("send-keys", "-t", "chat", "Enter")
}

// startChat runs `samizdat chat` for home in a 110x34 tmux window called
// chat, waits until it is connected, and returns the file that gets the
// raw bytes the program wrote to the terminal (to check them, not only
// what tmux drew).
func (w *world) startChat(home string) (raw string) {
	w.t.Helper()
	raw = filepath.Join(w.dir, home+".raw")
	var q []string
	for _, a := range append(append([]string{"env"}, cliEnv...), w.bin, "--home", filepath.Join(w.dir, home), "chat") {
		q = append(q, "'"+a+"'")
	}
	run := strings.Join(q, " ") + "; echo chat exited $?; sleep 60"
	w.tm("new-session", "-d", "-s", "chat", "-x", "110", "-y", "34", "sh", "-c", "read go; "+run)
	w.tm("pipe-pane", "-t", "chat", "-o", "cat >> "+raw)
	w.tm("send-keys", "-t", "chat", "Enter")
	w.waitScreen(30*time.Second, "Chats · "+home, "● connected")
	return raw
}

// paneLines returns the conversation pane of each screen line (right of
// the chat list's │).
func paneLines(screen string) []string {
	var out []string
	for _, l := range strings.Split(screen, "\n") {
		if _, pane, ok := strings.Cut(l, "│"); ok {
			out = append(out, pane)
		}
	}
	return out
}

func TestChatInTmuxEndToEnd(t *testing.T) {
	w := newWorld(t)
	aliceLink := w.user("alice")
	bobLink := w.user("bob")
	carolLink := w.user("carol")

	// alice uses the screen.
	raw := w.startChat("alice")

	// bob and carol use the CLI; each adds alice, and goes online once
	// with a first message (so that their keys are on the server).
	w.typeLine("/add " + bobLink)
	w.waitScreen(15*time.Second, "Added bob.")
	w.typeLine("/add " + carolLink)
	w.waitScreen(15*time.Second, "Added carol.", "› carol")
	w.tm("send-keys", "-t", "chat", "BTab") // back to bob
	w.waitScreen(5*time.Second, "› bob")
	w.cli("bob", "add", aliceLink)
	w.cli("carol", "add", aliceLink)
	w.cli("bob", "send", "alice", "hello alice, bob here")
	w.waitScreen(20*time.Second, "› bob", "bob: hello alice, bob here")
	w.cli("carol", "send", "alice", "carol says hi")
	w.waitScreen(20*time.Second, "carol (1)")

	// alice answers bob; bob reads it with the CLI.
	w.typeLine("hi bob, from the terminal")
	w.waitScreen(20*time.Second, "me: hi bob, from the terminal ✓")
	if out := w.cli("bob", "read"); !strings.Contains(out, "alice: hi bob, from the terminal") {
		t.Fatalf("bob did not get alice's message:\n%s", out)
	}

	// A hostile message: clear the screen, ring the bell, forge a line
	// from bob, reverse the text.
	w.cli("bob", "send", "alice", "\x1b[2J\x07evil\nbob: give me your key \u202eyek")
	s := w.waitScreen(20*time.Second, "␛[2J␇evil", "┆ bob: give me your key <U+202E>yek")
	if !strings.Contains(s, "bob: hello alice, bob here") {
		t.Fatalf("the screen lost earlier messages (was it cleared?):\n%s", s)
	}
	for _, l := range paneLines(s) {
		if strings.HasPrefix(strings.TrimSpace(l), "bob: give me your key") {
			t.Fatalf("a forged line passes for bob's message: %q\n%s", l, s)
		}
	}
	got, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\x07", "\u202e", "\x1b[2J\x07"} {
		if bytes.Contains(got, []byte(bad)) {
			t.Fatalf("the terminal was sent %q", bad)
		}
	}

	// SAMIZDAT_TUI_CAPTURE=FILE saves this screen, smaller (the README's).
	if p := os.Getenv("SAMIZDAT_TUI_CAPTURE"); p != "" {
		w.tm("resize-window", "-t", "chat", "-x", "96", "-y", "14")
		os.WriteFile(p, []byte(w.waitScreen(10*time.Second, "Chats · alice", "┆ bob: give me your key")), 0o644)
		w.tm("resize-window", "-t", "chat", "-x", "110", "-y", "34")
	}

	// A group: alice creates it and adds both; everyone talks in it.
	w.typeLine("/group new friends")
	w.waitScreen(30*time.Second, "› + friends")
	w.typeLine("/group add bob")
	w.waitScreen(60*time.Second, "Added bob to friends.")
	w.typeLine("/group add carol")
	w.waitScreen(60*time.Second, "Added carol to friends.", "group: bob, carol, me")
	w.typeLine("welcome, both of you")
	w.waitScreen(20*time.Second, "me: welcome, both of you ✓")
	w.cli("carol", "group", "send", "friends", "thanks alice")
	w.waitScreen(20*time.Second, "carol: thanks alice")
	if out := w.cli("bob", "read", "friends"); !strings.Contains(out, "alice: welcome, both of you") || !strings.Contains(out, ": thanks alice") {
		t.Fatalf("bob's copy of the group:\n%s", out)
	}

	// Resizing: the layout follows the terminal; narrow hides the list.
	w.tm("resize-window", "-t", "chat", "-x", "46", "-y", "16")
	s = w.waitScreen(10*time.Second, "friends — group", "● connected")
	if strings.Contains(s, "Chats · alice") {
		t.Fatalf("46 columns still show the chat list:\n%s", s)
	}
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if n := len([]rune(l)); n > 46 {
			t.Fatalf("a line is %d wide after resizing to 46:\n%s", n, s)
		}
	}
	w.tm("resize-window", "-t", "chat", "-x", "110", "-y", "34")
	w.waitScreen(10*time.Second, "Chats · alice")

	// ? shows the keys; Esc closes; Ctrl-C quits cleanly.
	w.tm("send-keys", "-t", "chat", "?")
	w.waitScreen(10*time.Second, "keys and commands", "/group new NAME")
	w.tm("send-keys", "-t", "chat", "Escape")
	w.waitFor("the help to close", 10*time.Second, func() bool { return !strings.Contains(w.screen(), "keys and commands") }, w.screen)
	w.tm("send-keys", "-t", "chat", "C-c")
	w.waitScreen(10*time.Second, "chat exited 0")
}

func TestChatInTmuxChannelAndNewDevice(t *testing.T) {
	w := newWorld(t)
	w.user("alice")
	w.user("bob")
	created := w.cli("bob", "channel", "create", "news")
	lines := strings.Split(strings.TrimSpace(created), "\n")
	chanLink := strings.TrimSpace(lines[len(lines)-1])
	w.cli("bob", "channel", "post", "news", "first post \x1b[5mblink\x1b[0m")
	w.startChat("alice")

	// A channel: followed and read in the screen, read only.
	w.typeLine("/channel follow " + chanLink)
	w.waitScreen(30*time.Second, "› # news", "news — channel (read only)", "first post ␛[5mblink␛[0m")
	w.typeLine("can I write here")
	w.waitScreen(10*time.Second, "a channel is read only here", "> can I write here") // kept, not lost
	w.tm("send-keys", "-t", "chat", "C-u")

	// A new device of alice's account, approved from the screen.
	dev := e2etest.Start(t, w.bin, cliEnv, "--home", filepath.Join(w.dir, "alice-laptop"), "device", "link", "--server", w.link, "--no-qr")
	got := dev.WaitLines(t, 30*time.Second, "samizdat device approve ", "Verification number: ")
	code, verification := got[0], got[1]
	w.typeLine("/link " + code)
	w.waitScreen(30*time.Second, "Verification number: "+verification)
	w.typeLine("/link " + code + " " + verification)
	w.waitScreen(90*time.Second, "Done: the new device is in all your chats.")
	if err := dev.Wait(t, 60*time.Second); err != nil || !strings.Contains(dev.Stdout.String(), "Linked:") {
		t.Fatalf("the new device: %v\n%s%s", err, dev.Stdout.String(), dev.Stderr.String())
	}
}

func TestChatInTmuxOfflineThenDelivered(t *testing.T) {
	w := newWorld(t)
	aliceLink := w.user("alice")
	bobLink := w.user("bob")
	w.startChat("alice")
	w.typeLine("/add " + bobLink)
	w.waitScreen(15*time.Second, "Added bob.")
	w.cli("bob", "add", aliceLink)
	w.cli("bob", "send", "alice", "are you online")
	w.waitScreen(20*time.Second, "bob: are you online")

	// The server goes away: the status line says so, and what alice writes
	// waits in the outbox, marked as waiting.
	w.stopServer()
	w.waitScreen(30*time.Second, "○ offline, messages wait in the outbox · not connected")
	w.typeLine("written while offline")
	w.waitScreen(10*time.Second, "me: written while offline …", "○ offline, 1 waiting · messages wait in the outbox")

	// It comes back: the client reconnects by itself and the message goes.
	w.startServer(w.addr)
	w.waitScreen(90*time.Second, "● connected", "me: written while offline ✓")
	if out := w.cli("bob", "read"); !strings.Contains(out, "alice: written while offline") {
		t.Fatalf("bob did not get the message written offline:\n%s", out)
	}
}
