package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/termsafe"
)

func init() {
	register("send", "send an end-to-end encrypted message to a contact or group", runSend)
}

func runSend(e env) int {
	fs := clientFlagSet(&e, "send")
	file := fs.String("file", "", "send the file at this path (end-to-end encrypted; sendfile.go)")
	caption := fs.String("caption", "", "a caption for --file")
	wait := fs.Bool("wait", false, "wait until the server has the message (Ctrl-C stops waiting; the message stays queued)")
	fs.Usage = usageFunc(fs, "send [flags] NAME TEXT...", "TEXT '-' reads the text from stdin.")
	args, err := parseAll(fs, e.args)
	if err != nil {
		return flagExit(err)
	}
	if *file != "" {
		return sendFile(e, args, *file, *caption) // sendfile.go
	}
	if len(args) < 2 {
		return fail(e, "send", errors.New("usage: samizdat send NAME TEXT"))
	}
	text, err := messageText(e, args[1:])
	if err != nil {
		return fail(e, "send", err)
	}
	return sendText(e, "send", args[0], text, *wait)
}

// messageText joins the words of a message; a single "-" reads stdin.
func messageText(e env, words []string) (string, error) {
	if len(words) == 1 && words[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, client.MaxTextBytes+1))
		if err != nil {
			return "", fmt.Errorf("reading the message from stdin: %w", err)
		}
		return strings.TrimRight(string(b), "\n"), nil
	}
	return strings.Join(words, " "), nil
}

// sendText puts text to the chat called name in the outbox and returns as
// soon as it is there (safe on disk), after a short wait for the server's
// acknowledgement; with wait, it waits for it.
func sendText(e env, cmd, name, text string, wait bool) int {
	if len(text) > client.MaxTextBytes { // refused at once, before any connection
		return fail(e, cmd, &client.TooLargeError{Size: len(text), Limit: client.MaxTextBytes})
	}
	return withClient(e, cmd, func(c *client.Client) error {
		ctx, stop := signalContext()
		defer stop()
		// A short wait for the server: a message to an existing chat is
		// queued at once when it does not answer.
		online := true
		if err := goOnline(ctx, c, 3*time.Second); err != nil {
			if !errors.Is(err, errUnreachable) {
				return err // an interception, a revoked device: say it
			}
			online = false
		}
		if online {
			c.Sync(ctx, 300*time.Millisecond) // catch up first: the chat may have moved on
		}
		before := c.FailedCount()
		send := func(d time.Duration) error {
			sctx, scancel := context.WithTimeout(ctx, d)
			defer scancel()
			return c.Send(sctx, name, text)
		}
		err := send(map[bool]time.Duration{true: 30 * time.Second, false: 2 * time.Second}[online])
		if err != nil && !online && errors.Is(err, client.ErrOffline) {
			// The first message to a contact needs their keys from the
			// server: wait for it a little longer.
			if werr := waitOnline(ctx, c, 12*time.Second); werr != nil {
				return fmt.Errorf("%w; the first message to a contact needs the server", werr)
			}
			online = true
			c.Sync(ctx, 300*time.Millisecond)
			err = send(30 * time.Second)
		}
		if err != nil {
			return err
		}
		grace := 10 * time.Second
		if !online {
			grace = time.Second
		}
		fctx, fcancel := context.WithTimeout(ctx, grace)
		if wait {
			fctx, fcancel = context.WithCancel(ctx)
		}
		defer fcancel()
		ferr := c.Flush(fctx)
		if c.FailedCount() > before {
			return fmt.Errorf("the message was not sent; 'samizdat outbox' says why and can retry or drop it")
		}
		if ferr == nil {
			fmt.Fprintf(e.stdout, "Sent to %s (end-to-end encrypted; the server has it and will deliver it).\n", name)
			printNew(e, c, ctx)
			return nil
		}
		if wait {
			return ferr
		}
		reason := c.OutboxWaitReason()
		if reason == "" {
			reason = "the server is not reachable now"
		}
		when := "it goes out the next time samizdat connects (listen, read or send)"
		if e.shared != nil {
			when = "it goes out when the server is reachable; listen keeps trying"
		}
		fmt.Fprintf(e.stdout, "Queued for %s: %s; %s. 'samizdat outbox' shows what waits.\n", name, reason, when)
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

// printJSONList prints list as a JSON array, an empty one as [] (never
// null), for the --json output of the listing commands.
func printJSONList[T any](w io.Writer, list []T) error {
	if list == nil {
		list = []T{}
	}
	return json.NewEncoder(w).Encode(list)
}

// printMessage prints one message as "[time] chat: from: text", or
// "[time] name: text" in a direct chat with name. Every field is made
// terminal-safe (internal/termsafe): one message is one line.
func printMessage(e env, m client.Message) {
	ts := m.Time.Local().Format("15:04")
	chat := safe(m.Chat)
	switch m.Kind {
	case client.MessageText:
		from := m.From
		if m.Out {
			from = "me"
		}
		if !m.Out && m.From == m.Chat {
			fmt.Fprintf(e.stdout, "[%s] %s: %s\n", ts, chat, safe(m.Text))
			return
		}
		fmt.Fprintf(e.stdout, "[%s] %s: %s: %s\n", ts, chat, safe(from), safe(m.Text))
	case client.MessageFile:
		printFile(e, ts, m) // sendfile.go
	case client.MessageEvent:
		fmt.Fprintf(e.stdout, "[%s] %s: * %s\n", ts, chat, safe(m.Text))
	default:
		fmt.Fprintf(e.stdout, "[%s] %s: ! %s\n", ts, chat, safe(m.Text))
	}
}

// safe makes text from the network safe to print (internal/termsafe).
func safe(s string) string { return termsafe.String(s) }
