package cli

import (
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/tui"
)

func init() {
	register("chat", "the whole messenger in one terminal screen: chats, groups, channels (Ctrl-C quits)", runChat)
}

// runChat opens the account, keeps it connected the way listen does, and
// hands the terminal to package tui until the user quits.
func runChat(e env) int {
	fs := clientFlagSet(&e, "chat")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	if err := tui.CheckTerminal(e.stdin, e.stdout); err != nil {
		return fail(e, "chat", err)
	}
	// One live session per home (homectl.go): chat holds the lock as
	// listen does, and serves the commands run beside it.
	home, lock, o, err := openLive(e)
	if err != nil {
		return fail(e, "chat", err)
	}
	defer lock.Unlock()
	o.Logf = nil // diagnostics would scribble over the screen
	ev := tui.NewEvents()
	o.OnMessage = ev.Message
	o.OnPath = ev.Path
	c, err := client.Open(o)
	clear(o.Passphrase)
	if err != nil {
		return fail(e, "chat", err)
	}
	defer c.Close()
	ctx, cancel := signalContext()
	defer cancel()
	c.Start(ctx)            // connects in the background; the status line tells
	ServeHome(ctx, home, c) // without it (a too long home path) commands beside it wait
	b := tui.NewClient(c)
	defer b.Close()
	if err := tui.Run(ctx, b, ev, e.stdin, e.stdout); err != nil {
		return fail(e, "chat", err)
	}
	return 0
}
