package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("send", "send an end-to-end encrypted message to a contact or group", runSend)
}

func runSend(e env) int {
	fs := newFlags(e, "send")
	clientFlags(fs, &e)
	file := fs.String("file", "", "send the file at this path (end-to-end encrypted; sendfile.go)")
	caption := fs.String("caption", "", "a caption for --file")
	args, err := parseAll(fs, e.args)
	if err != nil {
		return 2
	}
	if *file != "" {
		return sendFile(e, args, *file, *caption) // sendfile.go
	}
	if len(args) < 2 {
		return fail(e, "send", errors.New("usage: samizdat send NAME TEXT"))
	}
	return sendText(e, "send", args[0], strings.Join(args[1:], " "))
}

// sendText connects, sends text to the chat called name, and waits until
// the server acknowledged it.
func sendText(e env, cmd, name, text string) int {
	return withOnline(e, cmd, 15*time.Second, func(ctx context.Context, c *client.Client) error {
		c.Sync(ctx, 300*time.Millisecond) // catch up first: the chat may have moved on
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		if err := c.Send(sctx, name, text); err != nil {
			return err
		}
		if err := c.Flush(sctx); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Sent to %s (end-to-end encrypted; the server has it and will deliver it).\n", name)
		printNew(e, c, ctx)
		return nil
	})
}

// printNew prints the messages not shown before.
func printNew(e env, c *client.Client, ctx context.Context) {
	ms, err := c.Messages(ctx, "", true)
	if err != nil {
		return
	}
	for _, m := range ms {
		if !m.Out {
			printMessage(e, m)
		}
	}
}

// printMessage prints one message as "[time] chat: from: text".
func printMessage(e env, m client.Message) {
	ts := m.Time.Local().Format("15:04")
	switch m.Kind {
	case client.MessageText:
		from := m.From
		if m.Out {
			from = "me"
		}
		fmt.Fprintf(e.stdout, "[%s] %s: %s: %s\n", ts, m.Chat, from, m.Text)
	case client.MessageFile:
		printFile(e, ts, m) // sendfile.go
	case client.MessageEvent:
		fmt.Fprintf(e.stdout, "[%s] %s: * %s\n", ts, m.Chat, m.Text)
	default:
		fmt.Fprintf(e.stdout, "[%s] %s: ! %s\n", ts, m.Chat, m.Text)
	}
}
